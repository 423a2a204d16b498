"""Generation with vLLM's offline engine (``pip install plumcode[vllm]``, needs a GPU).

Thin on purpose: ``LLM(...)``, ``vllm.SamplingParams`` and ``LLM.chat`` / ``LLM.generate`` as
vLLM documents them; vLLM does the batching, scheduling and memory management itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plum_data.generation.base import Completion, GeneratorConfig, Prompt, continues_final_message
from plum_data.generation.params import SamplingParams
from plum_exec.errors import PlumError


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise PlumError("backend vllm needs the vllm package: pip install 'plumcode[vllm]'") from None
    return vllm


def engine_kwargs(config: GeneratorConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": config.model,
        "dtype": config.dtype,
        "trust_remote_code": config.trust_remote_code,
        "tensor_parallel_size": config.tensor_parallel_size,
        "gpu_memory_utilization": config.gpu_memory_utilization,
    }
    if config.max_model_len is not None:
        kwargs["max_model_len"] = config.max_model_len
    return kwargs


def vllm_sampling_params(vllm: Any, params: SamplingParams) -> Any:
    return vllm.SamplingParams(
        n=params.n,
        temperature=params.temperature,
        top_p=1.0 if params.greedy else params.top_p,
        max_tokens=params.max_new_tokens,
        stop=list(params.stop),
        seed=params.seed,
    )


class VLLMGenerator:
    prefill = True

    def __init__(self, config: GeneratorConfig):
        self.vllm = _import_vllm()
        self.llm = self.vllm.LLM(**engine_kwargs(config))
        self.chat = self.llm.get_tokenizer().chat_template is not None

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        sampling = vllm_sampling_params(self.vllm, params)
        results: list[list[Completion]] = [[] for _ in prompts]
        # LLM.chat takes one continue/add-generation-prompt choice per call: one call per kind.
        for kind, indices in _group_by_kind(prompts).items():
            batch = [prompts[i] for i in indices]
            if kind == "text":
                outputs = self.llm.generate(batch, sampling, use_tqdm=False)
            else:
                cont = kind == "continue"
                outputs = self.llm.chat(batch, sampling, use_tqdm=False,
                                        add_generation_prompt=not cont, continue_final_message=cont)
            for i, output in zip(indices, outputs, strict=True):
                results[i] = [_completion(output, choice) for choice in output.outputs]
        return results


def _group_by_kind(prompts: Sequence[Prompt]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            kind = "text"
        else:
            kind = "continue" if continues_final_message(prompt) else "chat"
        groups.setdefault(kind, []).append(i)
    return groups


def _completion(output: Any, choice: Any) -> Completion:
    # vLLM already cut the text at the stop string and reports "stop", "length" or "abort".
    finish = "length" if choice.finish_reason == "length" else "stop"
    return Completion(choice.text, finish, len(output.prompt_token_ids), len(choice.token_ids))

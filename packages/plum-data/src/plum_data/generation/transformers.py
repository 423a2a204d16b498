"""Generation with Hugging Face transformers: continuous batching over a paged KV cache
(``model.generate_batch``), or batched, left-padded ``model.generate``."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    ContinuousBatchingConfig,
    GenerationConfig,
)
from transformers.utils import logging as hf_logging

from plum_data.generation.base import Completion, GeneratorConfig, Prompt, continues_final_message
from plum_data.generation.params import SamplingParams, truncate_at_stop
from plum_exec.errors import PlumError
from plum_exec.sources import model_source

log = logging.getLogger(__name__)

# Rendering a continued assistant message through a marker (EvalPlus's trick) keeps the prefix
# byte-exact; ``continue_final_message=True`` strips its trailing newline after "```python".
_SPLITTER = "-[[]]-plumcode-continue-here-[[]]-"


def load_model_and_tokenizer(config: GeneratorConfig) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a local folder or a hub id, ready for generation."""
    source = model_source(config.model)
    device = _device(config.device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=config.trust_remote_code)
        with _no_progress_bar():
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=_dtype(config.dtype, device), trust_remote_code=config.trust_remote_code
            )
    except OSError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlumError(f"{config.model}: cannot load model ({first_line})") from None
    tokenizer.padding_side = "left"  # decoder-only models continue from the right end
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


@contextmanager
def _no_progress_bar() -> Iterator[None]:
    """transformers draws a "Loading weights" bar for every model it loads, between the stage's
    own lines; the stage says what it loads."""
    if not hf_logging.is_progress_bar_enabled():
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return getattr(torch, name)
    # bf16 halves memory on GPUs (fp16 on those without bf16); CPUs lack fast half-precision
    # matmuls, so float32 there.
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class TransformersGenerator:
    """Generator over ``model.generate``; sequences are batched across prompts and samples."""

    prefill = True

    def __init__(self, config: GeneratorConfig, model: Any = None, tokenizer: Any = None):
        if model is None or tokenizer is None:
            model, tokenizer = load_model_and_tokenizer(config)
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = config.batch_size
        self.continuous = config.batching == "continuous"
        self.chat = tokenizer.chat_template is not None

    def render(self, prompt: Prompt) -> tuple[str, bool]:
        """Prompt text, and whether it already holds the special tokens (a chat template)."""
        if isinstance(prompt, str):
            return prompt, False
        if not self.chat:
            return "\n\n".join(m["content"] for m in prompt), False
        if not continues_final_message(prompt):
            text = self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            return text, True
        marked = [*prompt[:-1], {**prompt[-1], "content": prompt[-1]["content"] + _SPLITTER}]
        text = self.tokenizer.apply_chat_template(marked, tokenize=False)
        if _SPLITTER not in text:
            text = self.tokenizer.apply_chat_template(prompt, tokenize=False, continue_final_message=True)
            return text, True
        return text.split(_SPLITTER)[0], True

    def encode(self, prompt: Prompt) -> list[int]:
        text, templated = self.render(prompt)
        return self.tokenizer(text, add_special_tokens=not templated)["input_ids"]

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        encoded = [self.encode(p) for p in prompts]
        if self.continuous:
            return self._generate_continuous(encoded, params)
        # One row per (prompt, sample); longest first so padding stays small within a batch.
        rows = sorted(((i, j) for i in range(len(prompts)) for j in range(params.n)),
                      key=lambda r: -len(encoded[r[0]]))
        if params.seed is not None:
            torch.manual_seed(params.seed)
        gen_config = self._generation_config(params)
        results: list[list[Completion | None]] = [[None] * params.n for _ in prompts]
        start = 0
        while start < len(rows):
            batch = rows[start : start + self.batch_size]
            try:
                completions = self._generate_batch([encoded[i] for i, _ in batch], gen_config, params)
            except torch.OutOfMemoryError:
                self._shrink_batch()
                continue
            for (i, j), completion in zip(batch, completions, strict=True):
                results[i][j] = completion
            start += len(batch)
        return results  # type: ignore[return-value]

    def _generate_continuous(self, encoded: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        """Every (prompt, sample) row through one continuous-batching run."""
        # Greedy samples are all the same sequence: decode it once and repeat it.
        n = 1 if params.greedy else params.n
        # One request per row rather than num_return_sequences: transformers 5.24 fails to fork
        # the samples of a one-token prompt (a query of 0 tokens).
        rows = [ids for ids in encoded for _ in range(n)]
        gen_config = self._generation_config(params)
        # Stop strings are cut afterwards (truncate_at_stop); continuous batching stops at EOS.
        gen_config.update(stop_strings=None)
        outputs = self.model.generate_batch(
            rows,
            generation_config=gen_config,
            continuous_batching_config=ContinuousBatchingConfig(seed=params.seed),
            progress_bar=False,
        )
        # generate_batch returns the requests in input order.
        finished = [o for o in outputs.values() if o.error is None]
        if len(finished) != len(rows):
            errors = {o.error for o in outputs.values() if o.error is not None}
            raise PlumError(
                f"continuous batching returned {len(finished)} of {len(rows)} sequences "
                f"({'; '.join(map(str, errors)) or 'requests lost'}); rerun with --batching static"
            )
        completions = [self._completion(o.generated_tokens, len(ids), params) for o, ids in zip(finished, rows, strict=True)]
        return [completions[i * n : (i + 1) * n] * (params.n // n) for i in range(len(encoded))]

    def _shrink_batch(self) -> None:
        """On CUDA OOM retry the same rows with half the batch; only batch size 1 gives up."""
        if self.batch_size == 1:
            raise PlumError("out of GPU memory even with batch size 1; use a smaller model or max_new_tokens")
        self.batch_size //= 2
        log.warning("CUDA out of memory: retrying with batch size %d", self.batch_size)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _generation_config(self, params: SamplingParams) -> GenerationConfig:
        config = copy.deepcopy(self.model.generation_config)
        config.update(
            max_new_tokens=params.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            stop_strings=list(params.stop) or None,
        )
        if params.greedy:
            config.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            # Exactly the distribution params describe: no top-k inherited from the model's config.
            config.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        return config

    def _generate_batch(self, ids: list[list[int]], gen_config: GenerationConfig,
                        params: SamplingParams) -> list[Completion]:
        device = self.model.device
        padded = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(device)
        output = self.model.generate(**padded, generation_config=gen_config, tokenizer=self.tokenizer)
        new_tokens = output[:, padded["input_ids"].shape[1] :].tolist()
        return [self._completion(tokens, len(prompt_ids), params) for tokens, prompt_ids in zip(new_tokens, ids, strict=True)]

    def _completion(self, tokens: list[int], prompt_tokens: int, params: SamplingParams) -> Completion:
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        # A row ends at its first end-of-sequence token, or (stopped by a stop string while others
        # went on) where the padding after it starts.
        length = next((k + 1 for k, t in enumerate(tokens) if t in eos_ids), None)
        ended = length is not None
        if length is None:
            length = len(tokens)
            while length and tokens[length - 1] == self.tokenizer.pad_token_id:
                length -= 1
        text = self.tokenizer.decode(tokens[:length], skip_special_tokens=True)
        text, stopped = truncate_at_stop(text, params.stop)
        hit_limit = not (ended or stopped) and length >= params.max_new_tokens
        return Completion(text, "length" if hit_limit else "stop", prompt_tokens, length)

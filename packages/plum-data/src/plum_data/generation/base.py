"""The generation interface every backend implements, and the config that picks a backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from plum_data.generation.params import SamplingParams

Message = dict[str, str]
# A prompt is either chat messages ({"role", "content"}) or raw text for a base model. Chat
# messages ending with an assistant message ask the backend to continue that message
# (EvalPlus's response prefix), when the backend can (``Generator.prefill``).
Prompt = str | list[Message]

FinishReason = Literal["stop", "length"]


@dataclass
class Completion:
    """One generated text. ``finish_reason`` is ``stop`` (end of sequence or a stop string) or
    ``length`` (hit ``max_new_tokens``). Token counts are None where a server does not report them."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class GeneratorConfig:
    """Which model generates, and how.

    Parameters that pick the model:
        model: local folder, Hugging Face hub id, or the model name an OpenAI-compatible server knows.
        backend: ``auto`` picks ``openai`` when ``base_url`` is set, else ``vllm`` when it is
            installed and a GPU is present, else ``transformers``.

    Parameters for local backends (transformers, vLLM):
        dtype, device, batch_size, trust_remote_code, plus vLLM's engine settings.
        batching (transformers): ``static`` pads batches of ``batch_size`` rows through
            ``generate``; ``continuous`` schedules every sequence through transformers'
            continuous batching (a paged KV cache; finished rows free their slots at once). Static
            is the default: on an H200, continuous batching measured slower at scale than large
            static batches (docs/gpu.md); vLLM is the fast path on GPUs.

    Parameters for the OpenAI-compatible backend:
        base_url, api_key_env, max_concurrency, max_retries, request_timeout, server_prefill.
    """

    model: str = field(default="", metadata={"help": "model folder, hub id, or server model name"})
    backend: Literal["auto", "transformers", "vllm", "openai"] = field(
        default="auto",
        metadata={"help": "generation backend", "choices": ["auto", "transformers", "vllm", "openai"]},
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = field(
        default="auto",
        metadata={
            "help": "weights dtype; auto = bfloat16 on CUDA, float32 on CPU",
            "choices": ["auto", "bfloat16", "float16", "float32"],
        },
    )
    device: str = field(default="auto", metadata={"help": "torch device; auto = cuda when available"})
    batch_size: int = field(
        default=16, metadata={"help": "sequences per forward batch (halved on CUDA out-of-memory)"}
    )
    batching: Literal["static", "continuous"] = field(
        default="static",
        metadata={
            "help": "transformers: static = padded batches of batch_size rows through generate; "
            "continuous = transformers' continuous batching over a paged KV cache (generate_batch)",
            "choices": ["static", "continuous"],
        },
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "allow model code from the hub"})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "vLLM: GPU memory share"})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM: GPUs per model"})
    max_model_len: int | None = field(default=None, metadata={"help": "vLLM: context length cap"})
    base_url: str | None = field(
        default=None, metadata={"help": "OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1"}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "environment variable holding the API key"}
    )
    max_concurrency: int = field(default=8, metadata={"help": "OpenAI: requests in flight at once"})
    max_retries: int = field(
        default=6, metadata={"help": "OpenAI: retries (exponential backoff) on 429/5xx/timeouts"}
    )
    request_timeout: float = field(default=600.0, metadata={"help": "OpenAI: seconds per request"})
    server_prefill: bool = field(
        default=False,
        metadata={
            "help": "OpenAI: the server continues a final assistant message "
            "(vLLM's continue_final_message extension; plum serve has it)"
        },
    )

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model is required (a folder, hub id, or server model name)")
        if self.batching not in ("static", "continuous"):
            raise ValueError(f"batching must be static or continuous, got {self.batching!r}")
        if self.batch_size < 1 or self.max_concurrency < 1 or self.max_retries < 0:
            raise ValueError("batch_size and max_concurrency must be >= 1, max_retries >= 0")


class Generator(Protocol):
    """Turns prompts into ``params.n`` completions each, in prompt order.

    ``chat``: the model has a chat template (instruct model); otherwise prompts.py builds plain
    completion prompts. ``prefill``: a final assistant message is continued, not answered.
    """

    chat: bool
    prefill: bool

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]: ...


def continues_final_message(prompt: Prompt) -> bool:
    return not isinstance(prompt, str) and bool(prompt) and prompt[-1]["role"] == "assistant"

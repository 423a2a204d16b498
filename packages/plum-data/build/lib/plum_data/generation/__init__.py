"""One generation interface over transformers, vLLM and OpenAI-compatible servers.

``load_generator(GeneratorConfig(model=...))`` returns a ``Generator`` whose
``generate(prompts, SamplingParams(...))`` gives ``params.n`` ``Completion``s per prompt.
Backends are imported lazily so that choosing one never requires the others.
"""

from __future__ import annotations

import importlib.util

from plum_data.generation.base import Completion, Generator, GeneratorConfig, Message, Prompt
from plum_data.generation.params import SamplingParams

__all__ = [
    "Completion",
    "Generator",
    "GeneratorConfig",
    "Message",
    "Prompt",
    "SamplingParams",
    "load_generator",
    "resolve_backend",
]


def resolve_backend(config: GeneratorConfig) -> str:
    """The backend ``auto`` stands for: a server when a URL is given, else vLLM on a GPU, else transformers."""
    if config.backend != "auto":
        return config.backend
    if config.base_url:
        return "openai"
    if importlib.util.find_spec("vllm") is not None:
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "transformers"


def load_generator(config: GeneratorConfig) -> Generator:
    backend = resolve_backend(config)
    if backend == "openai":
        from plum_data.generation.openai import OpenAIGenerator

        return OpenAIGenerator(config)
    if backend == "vllm":
        from plum_data.generation.vllm import VLLMGenerator

        return VLLMGenerator(config)
    from plum_data.generation.transformers import TransformersGenerator

    return TransformersGenerator(config)

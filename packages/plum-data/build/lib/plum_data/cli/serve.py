"""``plum serve``: an OpenAI-compatible server over a local model, on a loopback address."""

from __future__ import annotations

from typing import Any

import click

from plum_data.generation import GeneratorConfig
from plum_data.serve import ServeConfig
from plum_exec import config as cfg
from plum_exec.command import examples

# Settings of other backends; the server always runs the transformers backend.
_NOT_FOR_SERVE = (
    "backend", "base_url", "api_key_env", "max_concurrency", "max_retries", "request_timeout",
    "server_prefill", "gpu_memory_utilization", "tensor_parallel_size", "max_model_len",
)

EXAMPLES = """
plum serve --model ./checkpoints/round-1 --port 8000
plum sample --model round-1 --base-url http://127.0.0.1:8000/v1 --server-prefill --problems mbpp --out s.jsonl
"""


@click.command(
    short_help="serve a local model over the OpenAI API (/v1/chat/completions, /v1/completions)",
    epilog=examples(EXAMPLES),
)
@cfg.options(GeneratorConfig, skip=_NOT_FOR_SERVE)
@cfg.options(ServeConfig)
def serve(**params: Any) -> None:
    """Serve a local model folder or hub id with the transformers backend, so any OpenAI client
    can use it. Loopback addresses only."""
    from plum_data.generation import load_generator
    from plum_data.serve import OpenAIServer

    config = cfg.from_params(ServeConfig, params, ServeConfig())  # checks the host before the model loads
    generator_config = cfg.from_params(GeneratorConfig, {**params, "backend": "transformers"})
    generator = load_generator(generator_config)
    server = OpenAIServer(generator, config.served_model_name or generator_config.model, config)
    print(f"serving {server.model_name} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("plum serve: stopped")
    finally:
        server.server_close()

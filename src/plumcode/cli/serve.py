"""``plum serve``: an OpenAI-compatible server over a local model, on a loopback address."""

from __future__ import annotations

import argparse

from plumcode.config import add_arguments, from_namespace

# Settings of other backends; the server always runs the transformers backend.
_NOT_FOR_SERVE = (
    "backend", "base_url", "api_key_env", "max_concurrency", "max_retries", "request_timeout",
    "server_prefill", "gpu_memory_utilization", "tensor_parallel_size", "max_model_len",
)

EXAMPLES = """example:
  plum serve --model ./checkpoints/round-1 --port 8000
  plum sample --model round-1 --base-url http://127.0.0.1:8000/v1 --server-prefill --problems mbpp --out s.jsonl"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from plumcode.generation import GeneratorConfig
    from plumcode.serve import ServeConfig

    parser = subparsers.add_parser(
        "serve",
        help="serve a local model over the OpenAI API (/v1/chat/completions, /v1/completions)",
        description="Serve a local model folder or hub id with the transformers backend, so any "
        "OpenAI client can use it. Loopback addresses only.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser, GeneratorConfig, skip=_NOT_FOR_SERVE)
    add_arguments(parser, ServeConfig)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from plumcode.generation import GeneratorConfig, load_generator
    from plumcode.serve import OpenAIServer, ServeConfig

    args.backend = "transformers"
    config = from_namespace(ServeConfig, args, ServeConfig())  # checks the host before the model loads
    generator_config = from_namespace(GeneratorConfig, args)
    generator = load_generator(generator_config)
    server = OpenAIServer(generator, config.served_model_name or generator_config.model, config)
    print(f"serving {server.model_name} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("plum serve: stopped")
    finally:
        server.server_close()
    return 0

"""``plum info``: what is installed (plum packages, ML libraries) and what the sandbox can do here."""

from __future__ import annotations

import click

from plum_exec.versions import PLUM_DISTRIBUTIONS, installed_versions

LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "vllm", "datasets", "huggingface-hub")


@click.command(short_help="installed plum packages, library versions, sandbox isolation, GPUs")
def info() -> None:
    """Print the installed plum packages and versions, the sandbox isolation available on this
    machine, and the versions of torch (with CUDA), vLLM, TRL and the other libraries."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, title="plumcode")
    names = (*PLUM_DISTRIBUTIONS, *LIBRARIES)
    versions = installed_versions(names)
    for name in names:
        table.add_row(name, versions.get(name, "not installed"))
    table.add_row("CUDA", _cuda())
    table.add_row("sandbox isolation", _isolation())
    Console().print(table)


def _cuda() -> str:
    try:
        import torch
    except ImportError:
        return "no torch"
    if not torch.cuda.is_available():
        return f"not available (torch built for CUDA {torch.version.cuda})" if torch.version.cuda else "CPU build"
    return f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} device(s): {torch.cuda.get_device_name(0)}"


def _isolation() -> str:
    """Both levels with the mechanisms each would use here, and what the process level leaves open."""
    from plum_exec.sandbox.pool import (
        describe_level,
        namespace_available,
        process_confinement_here,
        process_level_gaps,
    )

    ok, reason = namespace_available()
    confined = process_confinement_here()
    process = describe_level("process", *confined)
    gaps = process_level_gaps(*confined)
    process += f" (does not contain: {'; '.join(gaps)})" if gaps else ""
    if ok:
        return f"{describe_level('namespace')} (auto); {process}"
    return f"{process} (auto); namespace unavailable: {reason}"

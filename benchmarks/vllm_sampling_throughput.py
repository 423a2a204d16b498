"""Sampling throughput of the vLLM backend against the transformers backend on one demo round.

One round of `plum demo` samples 8 programs for each of its 397 kept instructions (3,176
samples, temperature 0.8, at most 96 new tokens); this script samples the same with each backend
in turn, on the demo's instructions, and writes load time, sampling time, samples/s and generated
tokens/s per backend to a JSON file, and the memory vLLM's engine holds while loaded and after
``close()`` (its processes' RSS; on CUDA the device memory in use), which the loop relies on to
train on the card it sampled on. Run it in an environment with vLLM (on a CPU machine
`.venv-vllm`, from scripts/install_vllm_cpu.sh; on a GPU one `pip install 'plum-data[vllm]'`):

    nice -n 10 .venv-vllm/bin/python benchmarks/vllm_sampling_throughput.py \
        --out benchmarks/results/vllm_sampling_throughput_cpu.json
    python benchmarks/vllm_sampling_throughput.py --dtype bfloat16 \
        --out benchmarks/results/vllm_sampling_throughput_gpu.json          # on a GPU

On a CPU set VLLM_CPU_KVCACHE_SPACE (GiB, default 1 here). vLLM's CPU build keeps one core for
its engine's own work and runs the model on the others (VLLM_CPU_NUM_OF_RESERVED_CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

DEMO_ROUND = {"n": 8, "temperature": 0.8, "top_p": 1.0, "max_new_tokens": 96, "seed": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="vllm,transformers")
    parser.add_argument("--model", default=None, help="default: the shipped demo policy")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--limit", type=int, default=397, help="instructions (397 x 8 = 3,176 samples)")
    parser.add_argument("--batch-size", type=int, default=64, help="transformers (the demo's)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/vllm_sampling_throughput.json"))
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    from plumcode.demo import POLICY_DIR

    model = args.model or str(POLICY_DIR)
    problems = demo_instructions(args.limit)
    results = {"machine": machine(), "model": model, "dtype": args.dtype, "problems": len(problems),
               "sampling": DEMO_ROUND, "backends": {}}
    for backend in args.backends.split(","):
        results["backends"][backend] = measure(backend, model, args, problems)
        print(json.dumps({backend: results["backends"][backend]}), flush=True)
    results["machine"]["load_after"] = os.getloadavg()
    if {"vllm", "transformers"} <= set(results["backends"]):
        b = results["backends"]
        results["vllm_over_transformers"] = {
            "sampling_speed": b["transformers"]["sample_s"] / b["vllm"]["sample_s"],
            "with_load": (b["transformers"]["sample_s"] + b["transformers"]["load_s"])
            / (b["vllm"]["sample_s"] + b["vllm"]["load_s"]),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results.get("vllm_over_transformers", {})))


def demo_instructions(limit: int) -> dict[str, Any]:
    from plum_exec.problems import load_problems_jsonl
    from plumcode.demo.family import ProblemFamily
    from plumcode.demo.sets import instruction_problems, write_problems

    path = Path(tempfile.mkdtemp()) / "instructions.jsonl"
    write_problems(path, instruction_problems(ProblemFamily()), with_reference=False)
    return dict(list(load_problems_jsonl(path).items())[:limit])


def measure(backend: str, model: str, args: argparse.Namespace, problems: dict[str, Any]) -> dict[str, Any]:
    from plum_data.generation import GeneratorConfig, SamplingParams, load_generator
    from plum_data.sampling import sample_problems

    load_avg, before = os.getloadavg(), memory()
    started, cpu_started = time.monotonic(), cpu_seconds()
    generator = load_generator(GeneratorConfig(model=model, backend=backend, dtype=args.dtype,
                                               batch_size=args.batch_size))
    loaded = time.monotonic()
    out = Path(tempfile.mkdtemp()) / "samples.jsonl"
    samples = sample_problems(problems, generator, SamplingParams(**DEMO_ROUND), out)
    done = time.monotonic()
    tokens = sum(s.metadata["completion_tokens"] for s in samples)
    loaded_memory, cpu_used = memory(), cpu_seconds() - cpu_started
    if hasattr(generator, "close"):
        generator.close()
    return {
        "memory": {"before_load": before, "after_sampling": loaded_memory, "after_close": memory()},
        # On a shared machine wall time says little: CPU seconds (this process and the engine's,
        # load and sampling together) say what the work cost.
        "cpu_s": round(cpu_used, 1),
        "load_s": round(loaded - started, 1),
        "sample_s": round(done - loaded, 1),
        "samples": len(samples),
        "completion_tokens": tokens,
        "samples_per_s": round(len(samples) / (done - loaded), 2),
        "tokens_per_s": round(tokens / (done - loaded), 1),
        "load_avg_before": load_avg,
        "load_avg_after": os.getloadavg(),
    }


def cpu_seconds() -> float:
    """User + system CPU time of this process and its live children (vLLM's engine)."""
    import psutil

    total = 0.0
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def memory() -> dict[str, Any]:
    """vLLM's engine processes (their RSS), and on CUDA the device memory in use (any process)."""
    import psutil
    import torch

    rss = []
    for process in psutil.Process().children(recursive=True):
        try:  # an ended engine process may linger as a zombie until reaped: no memory
            if "VLLM" in process.name() and process.status() != psutil.STATUS_ZOMBIE:
                rss.append(process.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    found = {"engine_processes": len(rss), "engine_rss_mib": round(sum(rss) / 2**20)}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        found["cuda_used_mib"] = round((total - free) / 2**20)
    return found


def machine() -> dict[str, Any]:
    import torch

    return {"cpus": os.cpu_count(), "cuda": torch.cuda.is_available(), "torch_threads": torch.get_num_threads(),
            "load_before": os.getloadavg()}


if __name__ == "__main__":  # vLLM starts its engine in a spawned process, which imports this file
    main()

"""GPU check: one PLUM round on a randomly initialised model of Qwen2.5-Coder-0.5B's shape.

Run through ``scripts/gpu_check.sh`` (which installs carried wheels first). Steps:

1. a local byte-level BPE tokenizer and a random Qwen2 model of Qwen2.5-Coder-0.5B's shape
   (nothing is downloaded);
2. a short warm-up fine-tune (``plum train --method sft``) on a family of one-line functions,
   so that samples at temperature 1 are a mix of right and wrong programs;
3. ``plumcode.run``: evaluation of the starting policy, then one round of sample -> execute ->
   prefs -> KTO (full fine-tuning, bf16) -> evaluation, with the run's report;
4. micro-benchmarks of decoding (batch 1 and 64) and of a training step, set against the card's
   memory bandwidth and bf16 FLOP ceilings.

Results go to ``--out``: ``gpu_check.json`` (every number), ``gpu_check.md`` (a note to commit),
and the run's ``summary.json`` and ``report.html``. ``--tiny`` runs the same steps with a
two-layer model on the CPU, to check the script itself anywhere.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

# Name fragment -> (memory bandwidth in B/s, dense bf16 FLOP/s), from NVIDIA's data sheets (SXM).
CEILINGS = {"H200": (4.8e12, 989e12), "H100": (3.35e12, 989e12)}
QWEN25_CODER_05B = dict(
    hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
    intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768,
    rope_theta=1_000_000.0, tie_word_embeddings=True,
)  # fmt: skip
TINY_SHAPE = dict(
    hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=128, max_position_embeddings=1024, tie_word_embeddings=True,
)  # fmt: skip
OPS = {"plus": "+", "minus": "-", "times": "*"}
SPECIALS = ["<|endoftext|>", "<|pad|>"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check_out"), help="where results go")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/plum_gpu_check"), help="scratch folder"
    )
    parser.add_argument(
        "--tiny", action="store_true", help="a two-layer model on the CPU (checks the script)"
    )
    parser.add_argument(
        "--batching", default="static", choices=["static", "continuous"],
        help="the transformers backend's batching for sampling and evaluation",
    )  # fmt: skip
    args = parser.parse_args()

    import torch

    started = time.monotonic()
    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        sys.exit("gpu_check: no CUDA device (use --tiny to check the script on a CPU)")
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"environment": environment(cuda)}
    print(json.dumps(results["environment"], indent=2), flush=True)

    problems = arithmetic_family()
    model_dir = build_random_model(args.work / "random", problems, tiny=args.tiny, cuda=cuda)
    results["model"] = {
        "parameters": count_parameters(model_dir),
        "shape": "tiny" if args.tiny else "Qwen2.5-Coder-0.5B",
    }
    timed = time.monotonic()
    warm = warm_up(model_dir, problems, args.work, tiny=args.tiny)
    results["warm_up_seconds"] = round(time.monotonic() - timed, 1)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    timed = time.monotonic()
    run_dir = run_one_round(warm, problems, args.work, tiny=args.tiny, batching=args.batching)
    results["loop"] = loop_numbers(run_dir, seconds=time.monotonic() - timed)
    if cuda:
        results["loop"]["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    results["decode"] = decode_benchmark(warm, cuda, tiny=args.tiny)
    results["train_step"] = train_step_benchmark(model_dir, cuda, tiny=args.tiny)
    results["ceilings"] = compare_with_ceilings(results, cuda)
    results["total_seconds"] = round(time.monotonic() - started, 1)

    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "gpu_check.md").write_text(note(results), encoding="utf-8")
    for name in ("summary.json", "report.html"):
        shutil.copy(run_dir / name, args.out / name)
    print(note(results), flush=True)
    return 0


def environment(cuda: bool) -> dict[str, Any]:
    import torch

    versions = {"python": platform.python_version()}
    for package in (
        "torch",
        "transformers",
        "trl",
        "peft",
        "accelerate",
        "datasets",
        "pyarrow",
        "plumcode",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "from source" if package == "plumcode" else "missing"
    if cuda:
        versions["gpu"] = torch.cuda.get_device_name(0)
        versions["gpu_memory_gib"] = round(
            torch.cuda.get_device_properties(0).total_memory / 2**30, 1
        )
    return versions


# --- problems, tokenizer, model ------------------------------------------------------------------


def arithmetic_family() -> dict[str, list[dict[str, Any]]]:
    """One-line functions ``x <op> k``, plus two controls: always-passing and never-passing problems.

    The controls make both labels certain whatever the warmed-up model gets right: a program that
    loads passes ``callable(...)``; nothing the model learned computes primes.
    """
    rows = []
    for word, op in OPS.items():
        for k in range(1, 31):
            name = f"{word}_{k}"
            rows.append(
                {
                    "task_id": f"arith/{name}",
                    "prompt": f'def {name}(x: int) -> int:\n    """Return x {word} {k}."""\n',
                    "entry_point": name,
                    "canonical_solution": f"    return x {op} {k}\n",
                    "tests": [f"assert {name}({x}) == {eval(f'{x} {op} {k}')}" for x in (0, 3, -7)],
                }
            )
    controls = [
        {
            "task_id": f"control/identity_{i}",
            "prompt": f'def identity_{i}(x: int) -> int:\n    """Return x."""\n',
            "entry_point": f"identity_{i}",
            "canonical_solution": "    return x\n",
            "tests": [f"assert callable(identity_{i})"],
        }
        for i in range(8)
    ]
    controls += [
        {
            "task_id": f"control/nth_prime_{i}",
            "prompt": f'def nth_prime_{i}(n: int) -> int:\n    """Return the n-th prime number."""\n',
            "entry_point": f"nth_prime_{i}",
            "tests": [f"assert nth_prime_{i}(1) == 2", f"assert nth_prime_{i}(5) == 11"],
        }
        for i in range(8)
    ]
    # Every third arithmetic problem is held out for evaluation; the rest are PLUM's instructions.
    return {
        "instructions": [r for i, r in enumerate(rows) if i % 3] + controls,
        "eval": [r for i, r in enumerate(rows) if not i % 3],
        "warm_up": rows + controls[:8],
    }


def build_random_model(
    out: Path, problems: dict[str, list[dict[str, Any]]], *, tiny: bool, cuda: bool
) -> Path:
    """A local BPE tokenizer trained on the problem family, and a randomly initialised Qwen2."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    corpus = [
        r["prompt"] + r.get("canonical_solution", "") for rows in problems.values() for r in rows
    ]
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(corpus * 10, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|pad|>", padding_side="left"
    )
    tokenizer.save_pretrained(out)

    # The model's vocabulary keeps Qwen's size (its embedding and output head dominate the
    # memory traffic); ids beyond the tokenizer's are never trained and decode to nothing.
    shape = {**TINY_SHAPE, "vocab_size": len(tokenizer)} if tiny else QWEN25_CODER_05B
    config = Qwen2Config(
        **shape,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        dtype="bfloat16" if cuda else "float32",
    )
    torch.manual_seed(0)
    with torch.device(
        "cuda" if cuda else "cpu"
    ):  # initialising 0.5B weights on the GPU takes a second
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if cuda else torch.float32)
    model.save_pretrained(out)
    del model
    return out


def count_parameters(model_dir: Path) -> int:
    """Stored parameters (a tied output head is stored, and counted, once)."""
    from safetensors import safe_open

    total = 0
    for shard in model_dir.glob("*.safetensors"):
        with safe_open(str(shard), "pt") as handle:
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())  # noqa: SIM118
    return total


# --- the warm-up and the PLUM round ----------------------------------------------------------------


def warm_up(
    model_dir: Path, problems: dict[str, list[dict[str, Any]]], work: Path, *, tiny: bool
) -> Path:
    """Teach the random model the family's format with plum train (SFT, full fine-tuning)."""
    from plum_exec.jsonl import write_jsonl
    from plum_train.training import TrainConfig, train

    rows = [
        {"prompt": r["prompt"], "completion": r["canonical_solution"], "label": True}
        for r in problems["warm_up"]
        if "canonical_solution" in r
    ]
    write_jsonl(work / "warm_up.jsonl", rows)
    config = TrainConfig(
        method="sft", model=str(model_dir), lora=False, learning_rate=3e-4 if not tiny else 3e-3,
        warmup_steps=0.1, max_steps=20 if tiny else 150, per_device_train_batch_size=32,
        gradient_accumulation_steps=1, max_length=128, gradient_checkpointing=False,
        logging_steps=10, save_steps=100_000, save_total_limit=1, seed=0,
    )  # fmt: skip
    return train(config, work / "warm_up.jsonl", work / "warm_up")


def run_one_round(
    policy: Path, problems: dict[str, list[dict[str, Any]]], work: Path, *, tiny: bool, batching: str
) -> Path:
    from rich.console import Console

    import plumcode
    from plum_exec.jsonl import write_jsonl
    from plumcode.loop import run_config_from_dict

    write_jsonl(work / "instructions.jsonl", problems["instructions"])
    write_jsonl(work / "eval.jsonl", problems["eval"])
    config = run_config_from_dict(
        {
            "policy": {
                "model": str(policy),
                "backend": "transformers",
                "batch_size": 8 if tiny else 128,
                "batching": batching,
            },
            "instructions": {"problems": str(work / "instructions.jsonl")},
            "prompts": {"prompt_style": "completion"},
            "sampling": {"n": 2 if tiny else 8, "temperature": 1.0, "max_new_tokens": 32},
            "execution": {"timeout": 2.0},
            "training": {
                "method": "kto",
                "lora": False,
                "learning_rate": 1e-6,
                "num_train_epochs": 1.0,
                "max_steps": 2 if tiny else -1,
                "per_device_train_batch_size": 8,
                "gradient_accumulation_steps": 1,
                "max_length": 128,
                "gradient_checkpointing": False,
                "logging_steps": 1,
                "save_steps": 100_000,
                "save_total_limit": 1,
            },
            "evaluation": {
                "splits": {"arithmetic": str(work / "eval.jsonl")},
                "sampling": {"temperature": 0.0, "max_new_tokens": 32},
            },
            "rounds": 1,
        }  # fmt: skip
    )
    plumcode.run(config, work / "run", console=Console(stderr=True))
    return work / "run"


def loop_numbers(run_dir: Path, seconds: float) -> dict[str, Any]:
    """Per-stage seconds, generation and training throughput, from the run folder's files."""
    from plumcode.loop import RunFolder

    folder = RunFolder(run_dir)
    stages = {}
    for marker in sorted(run_dir.rglob("*.done")):
        record = json.loads(marker.read_text(encoding="utf-8"))
        stages[record["stage"]] = record
    sample, train = stages["round_01/sample"], stages["round_01/train"]
    # The saved log history ends at the last checkpoint, before Trainer's runtime record: the
    # stage's wall time (loading policy and reference, checkpointing and export included) it is.
    tokens = train["stats"]["tokens"] or 0
    prefs = json.loads((folder.prefs(1) / "stats.json").read_text(encoding="utf-8"))
    return {
        "seconds": round(seconds, 1),
        "stage_seconds": {key: record["seconds"] for key, record in stages.items()},
        "summary": json.loads(folder.summary.read_text(encoding="utf-8")),
        "samples": sample["stats"]["samples"],
        "generated_tokens": sample["stats"]["completion_tokens"],
        "generation_tokens_per_s": round(
            sample["stats"]["completion_tokens"] / sample["seconds"], 1
        ),
        "kto_rows": prefs["kto_rows"],
        "kto_desirable": prefs["kto_desirable"],
        "train_tokens": tokens,
        "train_stage_s": train["seconds"],
        "train_tokens_per_s": round(tokens / train["seconds"], 1),
    }


# --- micro-benchmarks ------------------------------------------------------------------------------


def decode_benchmark(model_dir: Path, cuda: bool, *, tiny: bool) -> dict[str, Any]:
    """Decode tokens/s at batch 1 and 64, every row forced to run the full length."""
    import torch
    from transformers import AutoModelForCausalLM

    device = "cuda" if cuda else "cpu"
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if cuda else torch.float32
    ).to(device)
    model.eval()
    new_tokens = 16 if tiny else 256
    results = {}
    for batch in (1, 64):
        prompt = torch.randint(3, model.config.vocab_size, (batch, 32), device=device)
        kwargs = dict(
            attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
            do_sample=False, pad_token_id=0,
        )  # fmt: skip
        model.generate(prompt, **{**kwargs, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
        _sync(cuda)
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(prompt, **kwargs)
        _sync(cuda)
        seconds = time.perf_counter() - start
        results[f"batch_{batch}"] = {
            "tokens_per_s": round(batch * new_tokens / seconds, 1),
            "ms_per_step": round(1000 * seconds / new_tokens, 2),
        }
    del model
    _empty_cache(cuda)
    return results


def train_step_benchmark(model_dir: Path, cuda: bool, *, tiny: bool) -> dict[str, Any]:
    """Forward + backward + AdamW on bf16 weights, batch 8 x 512 tokens: achieved FLOP/s."""
    import torch
    from transformers import AutoModelForCausalLM

    device = "cuda" if cuda else "cpu"
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if cuda else torch.float32
    ).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=cuda)
    batch, length = (2, 64) if tiny else (8, 512)
    ids = torch.randint(3, model.config.vocab_size, (batch, length), device=device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    steps, warm = (2, 1) if tiny else (10, 3)
    for step in range(warm + steps):
        if step == warm:
            _sync(cuda)
            start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(cuda)
    seconds = (time.perf_counter() - start) / steps
    result = {
        "dtype": "bf16" if cuda else "fp32",
        "batch": batch,
        "sequence": length,
        "tokens_per_s": round(batch * length / seconds, 1),
        "ms_per_step": round(1000 * seconds, 1),
    }
    if cuda:
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    del model, optimizer
    _empty_cache(cuda)
    return result


def compare_with_ceilings(results: dict[str, Any], cuda: bool) -> dict[str, Any]:
    """Decoding against memory bandwidth (every step streams all bf16 weights) and training
    against dense bf16 FLOP/s (6 FLOPs per parameter per token for forward + backward)."""
    if not cuda:
        return {"note": "CPU run: no ceilings"}
    name = results["environment"]["gpu"]
    card = next((key for key in CEILINGS if key in name), None)
    if card is None:
        return {"note": f"no ceilings known for {name}"}
    bandwidth, flops = CEILINGS[card]
    params = results["model"]["parameters"]
    weight_bytes = 2 * params
    out: dict[str, Any] = {
        "card": card,
        "bandwidth_TBps": bandwidth / 1e12,
        "bf16_TFLOPs": flops / 1e12,
    }
    for key, measured in results["decode"].items():
        batch = int(key.split("_")[1])
        # Per step: stream the weights once (bandwidth) or do 2 FLOPs per parameter per row (compute).
        ceiling = min(batch * bandwidth / weight_bytes, flops / (2 * params))
        out[f"decode_{key}_ceiling_tokens_per_s"] = round(ceiling)
        out[f"decode_{key}_fraction"] = round(measured["tokens_per_s"] / ceiling, 3)
    for label, tokens_per_s in (
        ("train_step", results["train_step"]["tokens_per_s"]),
        ("loop_kto", results["loop"]["train_tokens_per_s"]),
    ):
        if tokens_per_s:
            out[f"{label}_model_TFLOPs"] = round(6 * params * tokens_per_s / 1e12, 1)
            out[f"{label}_mfu"] = round(6 * params * tokens_per_s / flops, 3)
    return out


def note(results: dict[str, Any]) -> str:
    env, loop, ceilings = results["environment"], results["loop"], results["ceilings"]
    lines = [
        f"# GPU check: one PLUM round, random {results['model']['shape']} model "
        f"({results['model']['parameters'] / 1e6:.1f}M parameters)",
        "",
        f"- machine: {env.get('gpu', 'CPU')}; torch {env['torch']}, transformers {env['transformers']}, "
        f"trl {env['trl']}, peft {env['peft']}",
        f"- total {results['total_seconds']} s (warm-up SFT {results['warm_up_seconds']} s, loop {loop['seconds']} s)",
        f"- loop generation: {loop['generated_tokens']} tokens for {loop['samples']} samples, "
        f"{loop['generation_tokens_per_s']} tokens/s (transformers backend, short completions)",
        f"- loop KTO stage (full fine-tuning with a reference model; loading and export included): "
        f"{loop['train_tokens']} tokens in {loop['train_stage_s']} s = {loop['train_tokens_per_s']} tokens/s; "
        f"{loop['kto_desirable']} desirable of {loop['kto_rows']} rows",
        f"- peak GPU memory during the loop: {loop.get('peak_memory_gib', 'n/a')} GiB",
        f"- pass@1 per round: {json.dumps({r['round']: r['eval'] for r in loop['summary']['rounds']})}",
        "",
        "| measurement | achieved | ceiling | fraction |",
        "| --- | --- | --- | --- |",
    ]
    for key, measured in results["decode"].items():
        ceiling = ceilings.get(f"decode_{key}_ceiling_tokens_per_s", "n/a")
        fraction = ceilings.get(f"decode_{key}_fraction", "n/a")
        lines.append(
            f"| decode, {key.replace('_', ' ')} ({measured['ms_per_step']} ms/step) | "
            f"{measured['tokens_per_s']} tokens/s | {ceiling} tokens/s | {fraction} |"
        )
    step = results["train_step"]
    lines.append(
        f"| train step {step['batch']}x{step['sequence']} (fwd+bwd+AdamW, {step['dtype']}) | {step['tokens_per_s']} tokens/s "
        f"= {ceilings.get('train_step_model_TFLOPs', 'n/a')} TFLOP/s | {ceilings.get('bf16_TFLOPs', 'n/a')} TFLOP/s "
        f"| {ceilings.get('train_step_mfu', 'n/a')} |"
    )
    lines.append(
        f"| loop KTO stage (6N per token; reference/KL passes and loading not separated) | {loop['train_tokens_per_s']} tokens/s "
        f"= {ceilings.get('loop_kto_model_TFLOPs', 'n/a')} TFLOP/s | {ceilings.get('bf16_TFLOPs', 'n/a')} TFLOP/s "
        f"| {ceilings.get('loop_kto_mfu', 'n/a')} |"
    )
    return "\n".join(lines) + "\n"


def _sync(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.synchronize()


def _empty_cache(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())

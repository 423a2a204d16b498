"""GPU throughput of plum's training and sampling, against TRL and ``generate`` used directly.

Run on one GPU through ``scripts/gpu_check.sh`` (which installs the carried wheels first), or
alone; ``--tiny`` runs every step with a two-layer model on the CPU to check the script:

    python benchmarks/gpu_bench.py --out benchmarks/results/gpu_h200 [--sections sample,train]
    # the sampling comparison on a CPU, with the demo's policy:
    python benchmarks/gpu_bench.py --tiny --sections sample --sample-model src/plumcode/demo/models/policy

Sections (each appends its rows to ``OUT/gpu_bench.json`` as it finishes, so a run cut short by
its time limit still leaves what it measured):

- ``sample``: ``plum sample``'s transformers backend, 16 samples x 256 prompts, 256 new tokens,
  continuous batching (the default on CUDA) against static batches through ``model.generate``
  (the backend before; timed on a slice of the same rows: a full-length batch's throughput does
  not depend on how many batches follow).
- ``train``: ``plum train`` (KTO, DPO, SFT; LoRA and full) on random models of Qwen2.5-Coder-0.5B
  and 1.5B shapes, and TRL's trainers used directly on the same rows: tokens/s over the steps
  after warm-up, MFU, peak memory.

MFU counts the work each method must do per trained token: a training pass is 6 N FLOPs (4 N
with LoRA: frozen weights get no weight gradient), every extra forward (KTO's KL batch through
the policy, the reference model's passes) 2 N, where N counts every weight a token meets in a
matrix product (the output head included), plus attention's 4 L d T per forward. The peak is
the card's dense bf16 rate from NVIDIA's data sheet.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from gpu_check import (  # noqa: E402
    CEILINGS,
    QWEN25_CODER_05B,
    SPECIALS,
    TINY_SHAPE,
    count_parameters,
    environment,
)

QWEN25_CODER_15B = dict(
    QWEN25_CODER_05B, hidden_size=1536, num_hidden_layers=28, num_attention_heads=12,
    num_key_value_heads=2, intermediate_size=8960,
)  # fmt: skip
SHAPES = {"0.5B": QWEN25_CODER_05B, "1.5B": QWEN25_CODER_15B}
# (shape, method, lora, through): the goal run first, so a time limit cuts the least needed.
TRAIN_RUNS = [
    ("1.5B", "kto", False, "plum"),
    ("1.5B", "kto", False, "trl"),
    ("1.5B", "kto", False, "trl+liger"),
    ("1.5B", "kto", True, "plum"),
    ("1.5B", "dpo", False, "plum"),
    ("1.5B", "sft", False, "plum"),
    ("1.5B", "sft", False, "trl"),
    ("0.5B", "kto", False, "plum"),
    ("0.5B", "kto", True, "plum"),
    ("0.5B", "dpo", False, "plum"),
    ("0.5B", "dpo", True, "plum"),
    ("0.5B", "dpo", False, "trl"),
    ("0.5B", "sft", False, "plum"),
    ("0.5B", "sft", True, "plum"),
]
# Forward-pass equivalents per trained token besides the training pass itself.
EXTRA_FORWARDS = {"kto": 3, "dpo": 1, "sft": 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_bench_out"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/plum_gpu_bench"))
    parser.add_argument("--sections", default="sample,train")
    parser.add_argument("--tiny", action="store_true", help="two-layer models on the CPU")
    parser.add_argument("--train-budget", type=float, default=240.0,
                        help="seconds for the training runs; the rest are recorded as skipped")  # fmt: skip
    parser.add_argument("--sample-model", type=Path,
                        help="sample from this model instead (e.g. the demo policy, on a CPU)")  # fmt: skip
    parser.add_argument("--sample-size", help="PROMPTS,N,MAX_NEW_TOKENS for the sampling section")
    parser.add_argument("--only", help="training runs whose name contains this (e.g. '0.5B')")
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        sys.exit("gpu_bench: no CUDA device (use --tiny to check the script on a CPU)")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = Results(args.out / "gpu_bench.json", {"environment": environment(cuda)})
    tokenizer_dir = build_tokenizer(args.work / "tokenizer")
    sections = args.sections.split(",")
    if "sample" in sections:
        model_dir = args.sample_model or build_model(args.work, "0.5B", tokenizer_dir, tiny=args.tiny, cuda=cuda)
        # GPU: 16 samples x 256 prompts; the demo's policy on a CPU: its round's 8 x 96 tokens
        # on 32 prompts; --tiny alone: a few rows, to check the script.
        size = (256, 16, 256) if cuda else (32, 8, 96) if args.sample_model else (8, 4, 16)
        if args.sample_size:
            size = tuple(int(x) for x in args.sample_size.split(","))
        try:
            results.add("sample", sample_benchmark(model_dir, *size, cuda=cuda))
        except Exception as exc:  # recorded; the training section still runs
            results.add("sample", {"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            _free(cuda)
    if "train" in sections:
        deadline = time.monotonic() + args.train_budget
        for shape, method, lora, through in TRAIN_RUNS:
            name = f"{shape} {method} {'lora' if lora else 'full'} {through}"
            if time.monotonic() > deadline:
                results.add("train", {"run": name, "skipped": "time budget"})
                continue
            if args.only and args.only not in name:
                continue
            model_dir = build_model(args.work, shape, tokenizer_dir, tiny=args.tiny, cuda=cuda)
            try:
                row = train_benchmark(model_dir, args.work, method, lora, through, cuda=cuda, tiny=args.tiny)
            except Exception as exc:  # one failed run is a result too; the others still run
                row = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                _free(cuda)
            results.add("train", {"run": name, **row})
    return 0


class Results:
    """The JSON file of everything measured so far, rewritten after each row."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path, self.data = path, data
        self._write()

    def add(self, section: str, row: dict[str, Any]) -> None:
        self.data.setdefault(section, []).append(row)
        print(json.dumps({section: row}), flush=True)
        self._write()

    def _write(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")


# --- models and data -----------------------------------------------------------------------------


def build_tokenizer(out: Path) -> Path:
    """A byte-level BPE tokenizer trained offline on Python-looking text, with a chat template."""
    if (out / "tokenizer.json").is_file():
        return out
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    raw.train_from_iterator([program(random.Random(i)) for i in range(2000)], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|pad|>", padding_side="left"
    )
    tokenizer.save_pretrained(out)
    return out


def build_model(work: Path, shape: str, tokenizer_dir: Path, *, tiny: bool, cuda: bool) -> Path:
    """A randomly initialised Qwen2 of the shape (Qwen's full vocabulary: its head is real work)."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    out = work / f"model-{shape}{'-tiny' if tiny else ''}"
    if (out / "config.json").is_file():
        return out
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    dims = {**TINY_SHAPE, "vocab_size": len(tokenizer)} if tiny else SHAPES[shape]
    config = Qwen2Config(
        **dims, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None, dtype="bfloat16" if cuda else "float32",
    )  # fmt: skip
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if cuda else torch.float32)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    _free(cuda)
    return out


WORDS = ["value", "total", "count", "index", "items", "result", "left", "right", "node", "key", "prefix", "limit"]


def program(rng: random.Random, lines: int = 8) -> str:
    """A random but Python-shaped function body: what completions look like to the tokenizer."""
    body = []
    for _ in range(lines):
        a, b, c = rng.sample(WORDS, 3)
        body.append(rng.choice([
            f"    {a} = {b} + {rng.randint(0, 99)} * {c}", f"    if {a} > {b}:\n        return {c}",
            f"    for {a} in range({b}):\n        {c} += {a}", f"    {a}.append({b}[{rng.randint(0, 9)}])",
        ]))  # fmt: skip
    return "\n".join(body) + "\n    return result\n"


def training_rows(method: str, rows: int, prompt_lines: int, completion_lines: int) -> list[dict[str, Any]]:
    """Rows in TRL's format. DPO's rejected completion shares the chosen one's first half and
    differs after it, as failing samples do; KTO alternates labels."""
    out = []
    for i in range(rows):
        rng = random.Random(i)
        prompt = f'def solve_{i}(data):\n    """{program(rng, prompt_lines)}"""\n'
        chosen = program(rng, completion_lines)
        half = len(chosen) // 2
        rejected = chosen[:half] + program(rng, completion_lines)[half:]
        if method == "dpo":
            out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
        elif method == "sft":
            out.append({"prompt": prompt, "completion": chosen})
        else:
            out.append({"prompt": prompt, "completion": chosen if i % 2 == 0 else rejected, "label": i % 2 == 0})
    return out


# --- sampling --------------------------------------------------------------------------------------


def sample_benchmark(model_dir: Path, prompts: int, n: int, max_new: int, *, cuda: bool) -> dict[str, Any]:
    """New tokens/s for n samples of each prompt: continuous batching on all the prompts, then
    static batches of 64 and 256 rows on a slice of them."""
    from plum_data.generation import GeneratorConfig, SamplingParams, load_generator

    texts = [row["prompt"] for row in training_rows("kto", prompts, 2, 0)]
    params = SamplingParams(n=n, temperature=1.0, max_new_tokens=max_new, seed=0)
    result: dict[str, Any] = {"model": model_dir.name, "prompts": prompts, "n": n, "max_new_tokens": max_new}
    sliced = max(1, 256 // n)
    runs = [("continuous", prompts, 0), ("static", sliced, 64), ("static", sliced, 256)]
    for batching, rows, batch_size in runs:
        generator = load_generator(GeneratorConfig(
            model=str(model_dir), backend="transformers", batching=batching, batch_size=batch_size or 1
        ))  # fmt: skip
        generator.generate(texts[:2], SamplingParams(n=2, max_new_tokens=8, seed=0))  # warm-up
        _sync(cuda)
        start = time.perf_counter()
        out = generator.generate(texts[:rows], params)
        _sync(cuda)
        seconds = time.perf_counter() - start
        tokens = sum(c.completion_tokens or 0 for row in out for c in row)
        result[f"{batching}{batch_size or ''}"] = {
            "prompts": rows, "sequences": rows * params.n, "new_tokens": tokens,
            "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
        }  # fmt: skip
        del generator, out
        _free(cuda)
    best_static = max(result["static64"]["tokens_per_s"], result["static256"]["tokens_per_s"])
    result["speedup_over_best_static"] = round(result["continuous"]["tokens_per_s"] / best_static, 2)
    return result


# --- training --------------------------------------------------------------------------------------


def train_benchmark(
    model_dir: Path, work: Path, method: str, lora: bool, through: str, *, cuda: bool, tiny: bool
) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer

    from plum_exec.jsonl import write_jsonl

    batch, warm, measured = (4, 1, 2) if tiny else (16, 3, 8)
    steps = warm + measured
    prompt_lines, completion_lines = (2, 4) if tiny else (24, 64)
    rows = training_rows(method, batch * steps, prompt_lines, completion_lines)
    max_length = 128 if tiny else 1024
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokens_per_row = _tokens_per_row(rows, tokenizer, method, max_length)
    run_dir = work / f"run-{model_dir.name}-{method}-{'lora' if lora else 'full'}-{through}"
    data = run_dir / "data.jsonl"
    write_jsonl(data, rows)
    timer = StepTimer(warm, cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    settings = dict(
        learning_rate=1e-5 if lora else 1e-6, max_steps=steps, per_device_train_batch_size=batch,
        gradient_accumulation_steps=1, max_length=max_length, gradient_checkpointing=False,
        logging_steps=1, seed=0,
    )  # fmt: skip
    if through == "plum":
        _train_with_plum(model_dir, data, run_dir, method, lora, settings, timer)
    else:
        _train_with_trl(model_dir, rows, run_dir, method, lora, settings, timer, liger="liger" in through)
    row = {
        "wall_seconds": round(time.perf_counter() - started, 1),
        "batch": batch, "max_length": max_length, "tokens_per_row": round(tokens_per_row, 1),
        **timer.summary(tokens_per_step=tokens_per_row * batch),
    }  # fmt: skip
    if cuda:
        row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        row.update(_mfu(model_dir, method, lora, row["tokens_per_s"], tokens_per_row))
    _free(cuda)
    return row


def _train_with_plum(model_dir, data, run_dir, method, lora, settings, timer) -> None:
    """``plum train`` through its Python API, with a timing callback added to its trainer."""
    from plum_train import training

    build = training._build_trainer

    def build_with_timer(*args: Any, **kwargs: Any) -> Any:
        trainer = build(*args, **kwargs)
        trainer.add_callback(timer)
        return trainer

    training._build_trainer = build_with_timer
    try:
        config = training.TrainConfig(
            method=method, model=str(model_dir), lora=lora, save_steps=100_000, **settings
        )
        training.train(config, data, run_dir)
    finally:
        training._build_trainer = build


def _train_with_trl(model_dir, rows, run_dir, method, lora, settings, timer, *, liger: bool) -> None:
    """TRL's trainer as its docs show it, on the same rows and settings, saving nothing."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer, SFTConfig, SFTTrainer

    config_cls, trainer_cls = {"kto": (KTOConfig, KTOTrainer), "dpo": (DPOConfig, DPOTrainer),
                               "sft": (SFTConfig, SFTTrainer)}[method]  # fmt: skip
    args = config_cls(
        output_dir=str(run_dir), save_strategy="no", report_to=[], bf16=torch.cuda.is_available(),
        use_liger_kernel=liger, **settings,
    )  # fmt: skip
    trainer = trainer_cls(
        model=str(model_dir), args=args, train_dataset=Dataset.from_list(rows), callbacks=[timer],
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM") if lora else None,
    )  # fmt: skip
    trainer.train()
    del trainer


def _tokens_per_row(rows: list[dict[str, Any]], tokenizer: Any, method: str, max_length: int) -> float:
    """Mean tokens the trainer sees per row (DPO: chosen and rejected both), after truncation."""
    def length(prompt: str, completion: str) -> int:
        return min(max_length, len(tokenizer(prompt + completion)["input_ids"]) + 1)

    if method == "dpo":
        total = sum(length(r["prompt"], r["chosen"]) + length(r["prompt"], r["rejected"]) for r in rows)
    else:
        total = sum(length(r["prompt"], r["completion"]) for r in rows)
    return total / len(rows)


def _mfu(model_dir: Path, method: str, lora: bool, tokens_per_s: float, tokens_per_row: float) -> dict[str, Any]:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    n = count_parameters(model_dir)
    layers, hidden = config.num_hidden_layers, config.hidden_size
    sequence = tokens_per_row / (2 if method == "dpo" else 1)
    forward = 2 * n + 4 * layers * hidden * sequence
    train_pass = forward * (2 if lora else 3)
    per_token = train_pass + EXTRA_FORWARDS[method] * forward
    name = _gpu_name()
    card = next((key for key in CEILINGS if key in name), None)
    achieved = per_token * tokens_per_s
    row = {"flops_per_token": round(per_token / 1e9, 2), "achieved_tflops": round(achieved / 1e12, 1)}
    if card:
        row["mfu"] = round(achieved / CEILINGS[card][1], 3)
    return row


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


class StepTimer(TrainerCallback):
    """Times optimizer steps after the first ``warm`` ones."""

    def __init__(self, warm: int, cuda: bool):
        self.warm, self.cuda, self.times = warm, cuda, []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        _sync(self.cuda)
        self.times.append(time.perf_counter())

    def summary(self, tokens_per_step: float) -> dict[str, Any]:
        timed = self.times[self.warm - 1 :]
        if len(timed) < 2:
            return {"tokens_per_s": 0.0, "note": f"only {len(self.times)} steps ran"}
        seconds = (timed[-1] - timed[0]) / (len(timed) - 1)
        return {
            "steps_timed": len(timed) - 1, "ms_per_step": round(1000 * seconds, 1),
            "tokens_per_s": round(tokens_per_step / seconds, 1),
        }  # fmt: skip


def _sync(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.synchronize()


def _free(cuda: bool) -> None:
    gc.collect()
    if cuda:
        import torch

        torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())

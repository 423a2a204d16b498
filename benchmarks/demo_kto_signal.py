"""Is there a learning signal? One PLUM round on the demo, by hand, with the real stage functions.

    nice -n 5 python benchmarks/demo_kto_signal.py --policy src/plumcode/demo/models/policy --out /tmp/kto_signal

1. Greedy pass@1 of the starting policy on each evaluation split (``seen``,
   ``instructions_only``, ``unseen``; ``plumcode.demo.sets``).
2. N samples per PLUM instruction at temperature T, executed against the instructions' tests
   (the family's own tests by default, ``--tests testgen`` for tests synthesized by the demo
   generator, as ``plum demo`` does), labelled and turned into KTO rows (``plum_data.preferences``).
3. KTO (or, with ``--method sft``, RFT: fine-tuning on the passing samples) via ``plum_train.training``.
4. Greedy pass@1 of the trained policy on the same splits.

Every step resumes from the files it left in ``--out``. The result goes to ``OUT/signal.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from plum_data.generation import GeneratorConfig, SamplingParams, load_generator
from plum_data.preferences import PrefsConfig, build_preferences
from plum_data.sampling import sample_problems
from plum_exec.evaluation import EvaluationConfig, evaluate_samples
from plum_exec.problems import load_problems_jsonl
from plum_train.training import TrainConfig, train
from plumcode.demo.family import SPLITS, ProblemFamily
from plumcode.demo.sets import eval_problems, instruction_problems, write_problems


def greedy_pass_at_1(model: str, problem_files: dict[str, Path], out: Path, workers: int) -> dict[str, float]:
    generator = load_generator(GeneratorConfig(model=model, batch_size=64))
    scores = {}
    for split, path in problem_files.items():
        problems = load_problems_jsonl(path)
        samples = sample_problems(problems, generator, SamplingParams(n=1, temperature=0.0, max_new_tokens=96), out / f"{split}.samples.jsonl")
        summary = evaluate_samples(problems, samples, out / f"{split}.results.jsonl", EvaluationConfig(workers=workers))
        scores[split] = summary["pass@1"]["base"] if isinstance(summary.get("pass@1"), dict) else summary
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--method", choices=["kto", "sft"], default="kto")
    parser.add_argument("--n", type=int, default=8, help="samples per instruction")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--instructions", type=int, default=400)
    parser.add_argument("--eval-count", type=int, default=240)
    parser.add_argument("--lora", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--drop-uniform", action="store_true", help="prefs: drop problems whose samples all pass or all fail")
    parser.add_argument("--undesirable-weight", type=float, help="KTO weight of undesirable rows (default: from prefs' balance)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    family = ProblemFamily()
    out: Path = args.out
    files = {split: out / "problems" / f"{split}.jsonl" for split in SPLITS}
    for split, path in files.items():
        write_problems(path, eval_problems(family, split, args.eval_count), with_reference=True)
    instructions = out / "problems" / "instructions.jsonl"
    write_problems(instructions, instruction_problems(family, args.instructions, args.eval_count), with_reference=False)

    before = greedy_pass_at_1(args.policy, files, out / "eval_before", args.workers)
    print("before", json.dumps(before))

    problems = load_problems_jsonl(instructions)
    generator = load_generator(GeneratorConfig(model=args.policy, batch_size=64))
    samples_path = out / "round" / "samples.jsonl"
    samples = sample_problems(problems, generator, SamplingParams(n=args.n, temperature=args.temperature, max_new_tokens=96, seed=0), samples_path)
    results_path = out / "round" / "results.jsonl"
    sampled = evaluate_samples(problems, samples, results_path, EvaluationConfig(workers=args.workers))
    prefs_dir = out / "round" / ("prefs_mixed" if args.drop_uniform else "prefs")
    prefs = build_preferences(instructions, samples_path, results_path, prefs_dir, PrefsConfig(model=args.policy, kto_drop_uniform=args.drop_uniform))
    print("instructions", json.dumps(sampled), json.dumps(prefs))

    config = TrainConfig(
        method=args.method, model=args.policy, lora=args.lora, learning_rate=args.learning_rate,
        beta=args.beta, num_train_epochs=args.epochs, undesirable_weight=args.undesirable_weight, per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1, gradient_checkpointing=False, max_length=256, save_steps=10_000,
    )
    tag = f"{args.method}_lr{args.learning_rate:g}_ep{args.epochs:g}_beta{args.beta:g}{'_lora' if args.lora else ''}"
    tag += ("_mixed" if args.drop_uniform else "") + (f"_uw{args.undesirable_weight:g}" if args.undesirable_weight is not None else "")
    model = train(config, prefs_dir / "kto.jsonl", out / "round" / f"train_{tag}")
    after = greedy_pass_at_1(str(model), files, out / f"eval_after_{tag}", args.workers)
    print("after", json.dumps(after))
    result = {"before": before, "after": after, "instructions": sampled, "prefs": prefs, "args": {k: str(v) for k, v in vars(args).items()}}
    (out / f"signal_{tag}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""The judge's share of a GRPO step: seconds in ``PlumTestReward`` against the trainer's step time.

Writes the prompts (``plum prompts``' rows) for ``--problems``, runs ``plum train --method grpo``
for ``--steps`` steps, and reads the trainer's log: per step, ``plum/judge_seconds`` (the reward
call: extraction, the sandbox, verdicts) and ``step_time`` (generation, reward, the optimizer
step). On a GPU machine pass a real policy and ``--vllm on``; the default is the demo's policy
and problems on CPU.

    python benchmarks/bench_grpo_step.py --steps 6 --out benchmarks/results/grpo_step.json
    python benchmarks/bench_grpo_step.py --model Qwen/Qwen2.5-Coder-1.5B-Instruct --problems mbpp \\
        --dataset-path mbpp.jsonl --generations 16 --batch 64 --max-completion-length 512 --vllm on --lora
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from plum_data.prompts import PromptConfig
from plum_data.rl_prompts import write_rl_prompts
from plum_data.sampling import load_problem_set
from plum_exec.evaluation import EvaluationConfig
from plum_exec.problems import BENCHMARKS
from plum_train.grpo import GRPOSettings
from plum_train.training import LOG_FILE, TrainConfig, train


def main() -> None:
    from plumcode.demo import POLICY_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(POLICY_DIR))
    parser.add_argument("--problems", help="problems with tests, or a benchmark name (default: the demo's instructions)")
    parser.add_argument("--dataset-path", help="local data file for a benchmark name")
    parser.add_argument("--limit", type=int, default=64, help="problems used")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16, help="completions per step (per device)")
    parser.add_argument("--max-completion-length", type=int, default=96)
    parser.add_argument("--vllm", default="off", choices=["auto", "on", "off"])
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers of the judge")
    parser.add_argument("--out", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="plum-bench-grpo-") as work:
        problems_spec = args.problems or demo_problems(Path(work))
        problems = dict(list(load_problem_set(problems_spec, args.dataset_path).items())[: args.limit])
        prompts = Path(work) / "prompts.jsonl"
        write_rl_prompts(problems, args.model, PromptConfig(), prompts)
        config = TrainConfig(method="grpo", model=args.model, lora=args.lora, max_steps=args.steps,
                             per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
                             learning_rate=1e-5, warmup_steps=0, save_steps=10**6, gradient_checkpointing=False)  # fmt: skip
        source = {"benchmark": problems_spec, "dataset_path": args.dataset_path} if problems_spec in BENCHMARKS else {"problems": problems_spec}
        grpo = GRPOSettings(**source, num_generations=args.generations, max_completion_length=args.max_completion_length,
                            vllm=args.vllm, execution=EvaluationConfig(workers=args.workers))  # fmt: skip
        train(config, prompts, Path(work) / "train", grpo=grpo)
        log = json.loads((Path(work) / "train" / LOG_FILE).read_text(encoding="utf-8"))
    steps = [e for e in log if "plum/judge_seconds" in e]
    judge, step = [e["plum/judge_seconds"] for e in steps], [e["step_time"] for e in steps]
    report = {
        "model": args.model, "steps": len(steps), "completions_per_step": args.batch,
        "judge_s_median": round(statistics.median(judge), 3), "step_s_median": round(statistics.median(step), 3),
        "judge_share": round(sum(judge) / sum(step), 4), "judge_ms_per_completion": round(1000 * statistics.median(judge) / args.batch, 2),
        "reward_first": steps[0]["reward"], "reward_last": steps[-1]["reward"],
    }  # fmt: skip
    print(json.dumps(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def demo_problems(work: Path) -> str:
    from plumcode.demo.family import ProblemFamily
    from plumcode.demo.sets import instruction_problems, write_problems

    path = work / "problems.jsonl"
    write_problems(path, instruction_problems(ProblemFamily()), with_reference=False)
    return str(path)


if __name__ == "__main__":
    main()

"""The judge's cost per reward call: ``PlumTestReward`` on GRPO-shaped batches of MBPP programs.

Each call scores ``--prompts`` problems x ``--generations`` completions (half the problem's
reference, half a wrong program that fails its first test), as TRL's GRPOTrainer calls it once per
step. The first call starts the sandbox pool; the others find it warm. A last call has every
other program loop forever: it shows how long looping programs hold the trainer (each stops at its
first test's limit; ``stop_after_timeout``). Prints (and with --out writes) seconds per call and
per program, cold, warm and looping, for each ``--workers``.

    python benchmarks/bench_reward.py --mbpp /work/shared/data/mbpp/mbpp.jsonl --workers 1,2 \\
        --out benchmarks/results/reward_cost.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from plum_exec.evaluation import EvaluationConfig
from plum_exec.rewards import PlumTestReward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mbpp", type=Path, required=True, help="MBPP release file (mbpp.jsonl)")
    parser.add_argument("--workers", default="2", help="comma-separated sandbox worker counts")
    parser.add_argument("--prompts", type=int, default=4, help="problems per call (TRL: per-device batch / generations)")
    parser.add_argument("--generations", type=int, default=8, help="completions per problem")
    parser.add_argument("--calls", type=int, default=6, help="calls per worker count (the first is cold)")
    parser.add_argument("--out", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()
    report = {"prompts": args.prompts, "generations": args.generations, "runs": {}}
    for workers in (int(w) for w in args.workers.split(",")):
        report["runs"][workers] = measure(args, workers)
        print(json.dumps({"workers": workers, **report["runs"][workers]}))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def measure(args: argparse.Namespace, workers: int) -> dict[str, float]:
    execution = EvaluationConfig(workers=workers)
    with PlumTestReward(benchmark="mbpp", dataset_path=args.mbpp, execution=execution) as reward:
        task_ids = list(reward.problems)
        seconds, rewards = [], []
        for call in range(args.calls):
            tasks = task_ids[call * args.prompts : (call + 1) * args.prompts]
            batch = [t for t in tasks for _ in range(args.generations)]
            completions = [completion(reward, t, i % 2 == 0) for i, t in enumerate(batch)]
            started = time.perf_counter()
            rewards += reward(prompts=[""] * len(batch), completions=completions, task_id=batch)
            seconds.append(time.perf_counter() - started)
        batch = [t for t in task_ids[: args.prompts] for _ in range(args.generations)]
        looping = [completion(reward, t, i % 2 == 0, loop=True) for i, t in enumerate(batch)]
        started = time.perf_counter()
        reward(prompts=[""] * len(batch), completions=looping, task_id=batch)
        looping_s = time.perf_counter() - started
    programs = args.prompts * args.generations
    warm = statistics.median(seconds[1:])
    return {
        "cold_call_s": round(seconds[0], 3),
        "warm_call_s": round(warm, 3),
        "warm_ms_per_program": round(1000 * warm / programs, 2),
        "looping_call_s": round(looping_s, 3),
        "mean_reward": round(statistics.mean(r for r in rewards if r is not None), 3),
        "none_rewards": sum(r is None for r in rewards),
    }


def completion(reward: PlumTestReward, task_id: str, right: bool, loop: bool = False) -> list[dict[str, str]]:
    problem = reward.problems[task_id]
    body = "    while True:\n        pass\n" if loop else "    return None\n"
    code = problem.reference if right else f"def {problem.entry_point}(*args):\n{body}"
    return [{"role": "assistant", "content": f"```python\n{code}\n```"}]


if __name__ == "__main__":
    main()

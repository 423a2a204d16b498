"""Your own GRPO script with plum's judge as the reward: TRL's GRPOTrainer, PlumTestReward.

    python examples/grpo_plum_reward.py --model Qwen/Qwen2.5-Coder-1.5B-Instruct \\
        --problems tests.jsonl --out grpo-run/
    python examples/grpo_plum_reward.py --model ./policy --benchmark mbpp --dataset-path mbpp.jsonl ...

The prompts are built here in a few lines for a chat model; ``plum prompts`` writes the same
dataset (EvalPlus's instruction, or each problem's own prompt for a base model).
"""

from __future__ import annotations

import argparse

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from plum_exec import EvaluationConfig, PlumTestReward

INSTRUCTION = "Please provide a self-contained Python script that solves the following problem in a markdown code block:"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--problems", help="problems with tests: JSONL (plum testgen's output), folder or Hub id")
    parser.add_argument("--benchmark", help="or a known benchmark: humaneval, humaneval+, mbpp, mbpp+, livecodebench")
    parser.add_argument("--dataset-path", help="local data file for --benchmark")
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-steps", type=int, default=100)
    args = parser.parse_args()

    # The judge: problems as `plum evaluate-samples` takes them, a sandbox pool kept warm across steps.
    problems = {"problems": args.problems} if args.problems else {"benchmark": args.benchmark, "dataset_path": args.dataset_path}
    reward = PlumTestReward(**problems, execution=EvaluationConfig(timeout=2.0))
    # TRL's prompt-only format plus task_id, the column the reward finds each completion's tests by.
    prompts = Dataset.from_list([
        {"prompt": [{"role": "user", "content": f"{INSTRUCTION}\n```\n{p.prompt.strip()}\n```\n"}], "task_id": task_id}
        for task_id, p in reward.problems.items()
    ])  # fmt: skip
    trainer = GRPOTrainer(
        model=args.model,
        reward_funcs=[reward],  # logged as rewards/plum_tests/*, with plum/all_pass and plum/judge_seconds
        args=GRPOConfig(output_dir=args.out, max_steps=args.max_steps, num_generations=8,
                        per_device_train_batch_size=8, max_completion_length=512, beta=0.04),  # fmt: skip
        train_dataset=prompts,
    )
    with reward:  # stops the sandbox pool when training ends
        trainer.train()
    trainer.save_model(args.out)


if __name__ == "__main__":
    main()

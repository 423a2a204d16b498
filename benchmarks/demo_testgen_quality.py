"""How good are the demo generator's tests? Synthesize them for the demo's PLUM instructions with
``plum_data.testgen`` (as ``plum demo`` does) and compare, on the policy's own samples, the labels
they give with the labels of the family's gold tests.

    nice -n 5 python benchmarks/demo_testgen_quality.py --testgen src/plumcode/demo/models/testgen \
        --samples RUN/round_01/samples.jsonl --out /tmp/testgen_quality [--expected-values tests]

``--samples`` is a samples file for the same instructions (``plum demo`` or
benchmarks/demo_kto_signal.py writes one).
Writes OUT/quality.json: kept problems, tests per problem, and the confusion matrix of
synthesized-test labels against gold labels (a sample is desirable when all its tests pass).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from plum_data.generation import GeneratorConfig, load_generator
from plum_data.instructions import from_problems
from plum_data.testgen import TestGenConfig, synthesize_tests
from plum_exec.evaluation import EvaluationConfig, evaluate_samples, read_samples
from plum_exec.jsonl import read_jsonl, write_jsonl
from plum_exec.problems import load_problems_jsonl
from plum_exec.sandbox import SandboxConfig
from plumcode.demo.corpus import TESTGEN_TEMPLATE
from plumcode.demo.family import ProblemFamily
from plumcode.demo.sets import instruction_problems, write_problems


def labels(problems_path: Path, samples_path: Path, out: Path, workers: int) -> dict[tuple[str, int], bool]:
    """Label every sample of a problem in ``problems_path`` (the generator may have dropped some)."""
    problems = load_problems_jsonl(problems_path)
    kept = out.with_suffix(".samples.jsonl")
    write_jsonl(kept, (row for row in read_jsonl(samples_path) if row["task_id"] in problems))
    evaluate_samples(problems, read_samples(kept, problems), out, EvaluationConfig(workers=workers))
    return {(row["task_id"], row["sample_id"]): row["base_status"] == "pass" for row in read_jsonl(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--testgen", required=True)
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--instructions", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--expected-values", choices=["tests", "reference"], default="reference",
                        help="where expected values come from (TestGenConfig.expected_values)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    gold = args.out / "gold.jsonl"
    write_problems(gold, instruction_problems(ProblemFamily(), args.instructions), with_reference=True)
    synthesized = args.out / "tests.jsonl"
    config = TestGenConfig(n_tests=6, min_tests=3, temperature=0.0, max_new_tokens=320, prompt_template=str(TESTGEN_TEMPLATE),
                           expected_values=args.expected_values)
    generator = load_generator(GeneratorConfig(model=args.testgen, batch_size=32))
    stats = synthesize_tests(from_problems(gold), generator, synthesized, config, SandboxConfig(workers=args.workers))

    gold_labels = labels(gold, args.samples, args.out / "gold_results.jsonl", args.workers)
    synth_labels = labels(synthesized, args.samples, args.out / "synth_results.jsonl", args.workers)
    both = [k for k in synth_labels if k in gold_labels]
    confusion = {
        f"gold_{g}_synth_{s}": sum(gold_labels[k] == g and synth_labels[k] == s for k in both)
        for g in (True, False) for s in (True, False)
    }
    result = {"expected_values": args.expected_values,
              "testgen": {k: stats[k] for k in ("problems_in", "problems_kept", "tests_per_problem", "tests_rejected")},
              "samples_compared": len(both), "label_agreement": sum(gold_labels[k] == synth_labels[k] for k in both) / max(len(both), 1),
              "confusion": confusion}
    (args.out / "quality.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

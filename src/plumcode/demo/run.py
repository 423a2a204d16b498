"""``plum demo``: the real PLUM loop (``plumcode.loop.run``) on the embedded family, offline.

The run folder holds the problem sets and filled-in configs (``inputs/``), the loop's own files (``config.yaml``,
``tests.jsonl``, ``round_NN/``, ``summary.json``, ``report.html``) and, with ``--compare rft``,
a second run in ``rft/`` that fine-tunes on the passing samples instead (rejection-sampling
fine-tuning) with the same instructions, synthesized tests, rounds and epochs; with ``--compare
grpo``, a run in ``grpo/`` that learns online (GRPO) on the same tests, generating as many
programs per round as the KTO run samples.
``comparison.json`` and ``plots/comparison.png`` put the starting policy, KTO and RFT side by
side.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from plum_exec.config import load_yaml
from plum_exec.errors import PlumError
from plum_exec.jsonl import atomic_path, write_json
from plumcode.demo import POLICY_DIR, TESTGEN_DIR
from plumcode.demo.corpus import TESTGEN_TEMPLATE
from plumcode.demo.family import SPLITS, ProblemFamily
from plumcode.demo.sets import eval_problems, instruction_problems, write_problems

if TYPE_CHECKING:
    from plumcode.loop import RunConfig

DEMO_CONFIG = Path(__file__).parent / "demo.yaml"
COMPARISONS = ("rft", "grpo")
INPUTS = "inputs"  # problem sets and the filled-in configs, inside the run folder


def demo_config_values(run_dir: Path) -> dict[str, Any]:
    """The shipped config with this run's paths filled in."""
    values = load_yaml(DEMO_CONFIG)
    problems = run_dir / INPUTS
    values["policy"]["model"] = str(POLICY_DIR)
    values["test_generator"]["model"] = str(TESTGEN_DIR)
    values["testgen"]["prompt_template"] = str(TESTGEN_TEMPLATE)
    values["instructions"] = {"problems": str(problems / "instructions.jsonl")}
    values.setdefault("evaluation", {})["splits"] = {split: str(problems / f"{split}.jsonl") for split in SPLITS}
    return values


def write_config(path: Path, values: dict[str, Any], overrides: list[str] = ()) -> RunConfig:
    """Write ``values`` as a YAML config and load it back through the loop's own reader, so
    ``--set`` overrides and error messages (with YAML line numbers) work as in ``plum run``."""
    from plumcode.loop import load_run_config

    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return load_run_config(path, overrides)


def write_problem_sets(run_dir: Path) -> None:
    """The instructions (no references) and one evaluation set per split; deterministic, so a
    resumed run rewrites identical files."""
    family = ProblemFamily()
    problems = run_dir / INPUTS
    write_problems(problems / "instructions.jsonl", instruction_problems(family), with_reference=False)
    for split in SPLITS:
        write_problems(problems / f"{split}.jsonl", eval_problems(family, split), with_reference=True)


def rft_values(kto_values: dict[str, Any], kto_dir: Path) -> dict[str, Any]:
    """The RFT baseline's config: the same run, but SFT on passing samples, on the KTO run's
    synthesized tests (given as the instructions' tests, so both methods see the same labels)."""
    values = copy.deepcopy(kto_values)
    values["training"]["method"] = "sft"
    values["instructions"] = {"problems": str(kto_dir / "tests.jsonl")}
    values.pop("test_generator", None)
    if "hub" in values:  # its own repos beside the KTO run's
        values["hub"]["name"] = f"{values['hub']['name']}-rft"
    return values


def grpo_values(kto_values: dict[str, Any], kto_dir: Path) -> dict[str, Any]:
    """The GRPO comparison: online RL on the KTO run's synthesized tests, with the budget of
    generated programs per round the KTO run has (instructions x sampling.n), in groups of n."""
    values = rft_values(kto_values, kto_dir)
    with (kto_dir / "tests.jsonl").open(encoding="utf-8") as tests:
        problems = sum(1 for line in tests if line.strip())
    n = values["sampling"]["n"]
    batch = 2 * n  # two prompts' groups per step
    values["training"] = {**values["training"], **GRPO_TRAINING, "per_device_train_batch_size": batch,
                          "max_steps": -(-problems * n // batch)}  # fmt: skip
    values["grpo"] = {"num_generations": n, "max_completion_length": values["sampling"]["max_new_tokens"],
                      "temperature": values["sampling"]["temperature"]}  # fmt: skip
    if "hub" in values:
        values["hub"]["name"] = values["hub"]["name"].removesuffix("-rft") + "-grpo"
    return values


# GRPO's training settings in the demo (the rest as KTO's): full fine-tuning, no warmup, a small KL
# term so the summary has the KL to each round's start.
GRPO_TRAINING = {"method": "grpo", "learning_rate": 5e-5, "beta": 0.02, "warmup_steps": 0,
                 "gradient_accumulation_steps": 1}  # fmt: skip
BASELINES = {"rft": rft_values, "grpo": grpo_values}


def hub_values(namespace: str, run_dir: Path) -> dict[str, Any]:
    """The ``hub:`` section ``plum demo --push-to-hub NAMESPACE`` adds: every dataset and model of every round."""
    return {"namespace": namespace, "name": f"plum-demo-{run_dir.resolve().name}", "model": True}


def run_demo(run_dir: Path, *, compare: list[str] = (), overrides: list[str] = (), force: bool = False,
             push_to_hub: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) the demo in ``run_dir``; return the comparison (also in comparison.json).

    ``push_to_hub`` (a namespace) publishes every stage's dataset and every round's model as the
    run goes; the stages' work, and so the pass@1 numbers, are the same as without it."""
    from plumcode.loop import run
    from plumcode.report import write_report

    unknown = sorted(set(compare) - set(COMPARISONS))
    if unknown:
        raise PlumError(f"--compare: unknown method {unknown[0]!r} (known: {', '.join(COMPARISONS)})")
    _check_models()
    started = time.monotonic()
    write_problem_sets(run_dir)
    values = demo_config_values(run_dir)
    if push_to_hub:
        values["hub"] = hub_values(push_to_hub, run_dir)
    config = write_config(run_dir / INPUTS / "demo.yaml", values, overrides)
    summaries = {"kto": run(config, run_dir, force=force)}
    write_report(run_dir)
    for method in compare:  # each baseline in its own folder, on the KTO run's tests
        method_dir = run_dir / method
        method_values = BASELINES[method](values, run_dir)
        method_config = write_config(run_dir / INPUTS / f"demo_{method}.yaml", method_values, overrides)
        summaries[method] = run(method_config, method_dir, force=force)
        write_report(method_dir)
    comparison = compare_runs(summaries)
    comparison["wall_seconds"] = round(time.monotonic() - started, 1)
    write_json(run_dir / "comparison.json", comparison)
    plot_comparison(comparison, run_dir / "plots" / "comparison.png")
    return comparison


def compare_runs(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Greedy pass@1 per split: the starting policy (round 0) and each method's rounds."""
    methods = {}
    start: dict[str, float] = {}
    for method, summary in summaries.items():
        rounds = {r["round"]: {name: e["pass@1"] for name, e in r["eval"].items()} for r in summary["rounds"]}
        start = rounds.get(0, start)
        methods[method] = {str(r): scores for r, scores in sorted(rounds.items()) if r > 0}
    return {"start": start, "methods": methods}


def plot_comparison(comparison: dict[str, Any], path: Path) -> None:
    """pass@1 per round, one colour per split, one line style per method (all from round 0)."""
    from plumcode.report import save_plot

    save_plot(_draw_comparison, comparison, path)


def _draw_comparison(fig: Any, comparison: dict[str, Any]) -> bool:
    ax = fig.subplots()
    start = comparison["start"]
    for color, split in zip(("tab:orange", "tab:blue", "tab:green"), SPLITS, strict=True):
        for style, (method, rounds) in zip(("-", "--", ":"), comparison["methods"].items(), strict=False):
            points = [(0, start.get(split))] + [(int(r), s.get(split)) for r, s in rounds.items()]
            xs, ys = zip(*[(x, 100 * y) for x, y in points if y is not None], strict=True)
            ax.plot(xs, ys, style, color=color, marker="o", label=f"{split}, {method.upper()}")
    ax.set_xticks(range(1 + max((int(r) for m in comparison["methods"].values() for r in m), default=0)))
    ax.set_xlabel("round (0 = starting policy)")
    ax.set_ylabel("greedy pass@1 (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return True


def print_comparison(comparison: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title="plum demo: greedy pass@1 (points gained over the starting policy)")
    table.add_column("policy")
    for split in SPLITS:
        table.add_column(split, justify="right")
    start = comparison["start"]
    table.add_row("start", *(_percent(start.get(s)) for s in SPLITS))
    for method, rounds in comparison["methods"].items():
        for round_, scores in rounds.items():
            cells = [_percent(scores.get(s), start.get(s)) for s in SPLITS]
            table.add_row(f"{method.upper()} round {round_}", *cells)
    console.print(table)


def _percent(value: float | None, base: float | None = None) -> str:
    if value is None:
        return "-"
    if base is None:
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} ({100 * (value - base):+.1f})"


def _check_models() -> None:
    for folder in (POLICY_DIR, TESTGEN_DIR):
        if not (folder / "model.safetensors").is_file():
            raise PlumError(f"{folder}: demo model missing (regenerate with scripts/train_demo_models.py)")


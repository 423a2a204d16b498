"""``plum demo``: the real PLUM loop (``plumcode.loop.run``) on the embedded family, offline.

The run folder holds the problem sets and filled-in configs (``inputs/``), the loop's own files (``config.yaml``,
``tests.jsonl``, ``round_NN/``, ``summary.json``, ``report.html``) and, with ``--compare rft``,
a second run in ``rft/`` that fine-tunes on the passing samples instead (rejection-sampling
fine-tuning) with the same instructions, synthesized tests, rounds and epochs; with ``--compare
grpo``, a run in ``grpo/`` that learns online (GRPO) on the same tests, generating as many
programs per round as the KTO run samples.
``comparison.json`` and ``plots/comparison.png`` put the starting policy, KTO and RFT side by
side.

With several seeds (``run_seeds``), each seed's run is a demo run folder of its own
(``seed_N/``), and the top folder's ``comparison.json`` holds each number's mean and spread over
the seeds beside the per-seed values.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
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
SEED_DIR = "seed_{}"  # one run folder per seed, under the top folder, with --seeds K > 1
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


def given_tests(values: dict[str, Any], tests: Path) -> dict[str, Any]:
    """``values`` with ``tests`` (another run's synthesized tests) as the instructions and no
    test generator: the same labels without synthesizing them again."""
    values = copy.deepcopy(values)
    values["instructions"] = {"problems": str(tests)}
    values.pop("test_generator", None)
    return values


def rft_values(kto_values: dict[str, Any], kto_dir: Path) -> dict[str, Any]:
    """The RFT baseline's config: the same run, but SFT on passing samples, on the KTO run's
    synthesized tests (given as the instructions' tests, so both methods see the same labels)."""
    values = given_tests(kto_values, kto_dir / "tests.jsonl")
    values["training"] = _sft_training(values["training"])
    if "hub" in values:  # its own repos beside the KTO run's
        values["hub"]["name"] = f"{values['hub']['name']}-rft"
    return values


def _sft_training(training: dict[str, Any]) -> dict[str, Any]:
    """The preference method's training section as SFT: its options for preference losses dropped."""
    return {k: v for k, v in training.items() if k not in PREFERENCE_ONLY} | {"method": "sft"}


# Training options that only preference losses read (plum_train.training); SFT leaves them unset.
PREFERENCE_ONLY = frozenset({"loss_type", "loss_weights", "rpo_alpha"})


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
# Baselines ``--compare`` can add: name -> (the main run's config values, its folder) -> the
# baseline's config values. Each baseline runs in ``RUN/NAME/`` with the same budget.
COMPARISONS: dict[str, Callable[[dict[str, Any], Path], dict[str, Any]]] = {
    "rft": rft_values,
    "grpo": grpo_values,
}


def hub_values(namespace: str, run_dir: Path) -> dict[str, Any]:
    """The ``hub:`` section ``plum demo --push-to-hub NAMESPACE`` adds: every dataset and model of
    every round (a seed's folder named after the top folder too: RUN-seed_N)."""
    folder = run_dir.resolve()
    name = f"{folder.parent.name}-{folder.name}" if folder.name.startswith(SEED_DIR.format("")) else folder.name
    return {"namespace": namespace, "name": f"plum-demo-{name}", "model": True}


def run_seeds(out: Path, seeds: list[int], *, compare: list[str] = (), overrides: list[str] = (),
              force: bool = False, push_to_hub: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) the demo once per seed; return the comparison (also in comparison.json).

    One seed runs in ``out`` itself. Several run in ``out/seed_N/``, the first synthesizing the
    tests and the others reusing them (the generator decodes greedily, so its tests do not
    depend on the seed); ``out/comparison.json`` then holds each number's mean and spread."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise PlumError(f"seeds: expected distinct seeds, got {seeds}")
    if len(seeds) == 1:
        return run_demo(out, seed=seeds[0], compare=compare, overrides=overrides, force=force,
                        push_to_hub=push_to_hub)  # fmt: skip
    started = time.monotonic()
    first = out / SEED_DIR.format(seeds[0])
    comparisons = {
        seed: run_demo(out / SEED_DIR.format(seed), seed=seed, compare=compare, overrides=overrides,
                       force=force, push_to_hub=push_to_hub, tests=None if seed == seeds[0] else first / "tests.jsonl")
        for seed in seeds
    }  # fmt: skip
    comparison = summarize_seeds(comparisons)
    comparison["wall_seconds"] = round(time.monotonic() - started, 1)
    write_json(out / "comparison.json", comparison)
    plot_comparison(comparison, out / "plots" / "comparison.png")
    return comparison


def run_demo(run_dir: Path, *, seed: int | None = None, compare: list[str] = (), overrides: list[str] = (),
             force: bool = False, push_to_hub: str | None = None, tests: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) the demo in ``run_dir``; return the comparison (also in comparison.json).

    ``seed`` replaces the config's seed (before ``overrides``); ``tests`` (another run's
    ``tests.jsonl``) replaces test synthesis. ``push_to_hub`` (a namespace) publishes every
    stage's dataset and every round's model as the run goes; the stages' work, and so the pass@1
    numbers, are the same as without it."""
    from plumcode.loop import run
    from plumcode.loop.config import apply_overrides
    from plumcode.report import write_report

    unknown = sorted(set(compare) - set(COMPARISONS))
    if unknown:
        raise PlumError(f"--compare: unknown method {unknown[0]!r} (known: {', '.join(COMPARISONS)})")
    _check_models()
    started = time.monotonic()
    write_problem_sets(run_dir)
    values = demo_config_values(run_dir)
    if seed is not None:
        values["seed"] = seed
    if tests is not None:
        values = given_tests(values, tests)
    if push_to_hub:
        values["hub"] = hub_values(push_to_hub, run_dir)
    config = write_config(run_dir / INPUTS / "demo.yaml", values, overrides)
    summaries = {config.training.method: run(config, run_dir, force=force)}
    write_report(run_dir)
    # A baseline is derived from the config as overridden (--set training.method=dpo must not
    # make the RFT baseline a DPO run too).
    values = apply_overrides(copy.deepcopy(values), overrides)
    for name in compare:
        baseline_dir = run_dir / name
        baseline = write_config(run_dir / INPUTS / f"demo_{name}.yaml", COMPARISONS[name](values, run_dir))
        summaries[name] = run(baseline, baseline_dir, force=force)
        write_report(baseline_dir)
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


def summarize_seeds(comparisons: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per-seed comparisons -> one in the same layout, each number replaced by its spread over
    the seeds: ``{"mean", "sd" (sample standard deviation; 0 for one seed), "min", "max",
    "values"}`` (values in the order of ``seeds``), and ``gain`` beside each method's number
    (the mean over seeds of its gain over that seed's start, with its own spread)."""
    seeds = list(comparisons)
    runs = list(comparisons.values())
    start = {split: _spread([c["start"].get(split) for c in runs]) for split in SPLITS}
    methods: dict[str, dict[str, Any]] = {}
    for method in runs[0]["methods"]:
        for round_ in runs[0]["methods"][method]:
            scores = [c["methods"][method].get(round_, {}) for c in runs]
            methods.setdefault(method, {})[round_] = {
                split: {
                    **_spread([s.get(split) for s in scores]),
                    "gain": _spread([_minus(s.get(split), c["start"].get(split)) for s, c in zip(scores, runs, strict=True)]),
                }
                for split in SPLITS
            }  # fmt: skip
    return {"seeds": seeds, "start": start, "methods": methods}


def _minus(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def _spread(values: list[float | None]) -> dict[str, Any] | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    sd = statistics.stdev(known) if len(known) > 1 else 0.0
    return {"mean": statistics.fmean(known), "sd": sd, "min": min(known), "max": max(known), "values": values}


def _mean_sd(cell: float | dict[str, Any] | None) -> tuple[float | None, float | None]:
    """A comparison cell as (mean, sd): one seed's plain number has no spread."""
    if isinstance(cell, dict):
        return cell["mean"], cell["sd"]
    return cell, None


def plot_comparison(comparison: dict[str, Any], path: Path) -> None:
    """pass@1 per round, one colour per split, one line style per method (all from round 0);
    with several seeds, the mean with error bars of one standard deviation."""
    from plumcode.report import save_plot

    save_plot(_draw_comparison, comparison, path)


def _draw_comparison(fig: Any, comparison: dict[str, Any]) -> bool:
    ax = fig.subplots()
    start = comparison["start"]
    for color, split in zip(("tab:orange", "tab:blue", "tab:green"), SPLITS, strict=True):
        for style, (method, rounds) in zip(("-", "--", ":", "-."), comparison["methods"].items(), strict=False):
            cells = [(0, start.get(split))] + [(int(r), s.get(split)) for r, s in rounds.items()]
            points = [(x, *_mean_sd(cell)) for x, cell in cells if _mean_sd(cell)[0] is not None]
            xs, ys, sds = zip(*points, strict=True)
            errors = [100 * (sd or 0.0) for sd in sds] if any(sd is not None for sd in sds) else None
            ax.errorbar(xs, [100 * y for y in ys], yerr=errors, fmt=style, color=color, marker="o",
                        capsize=3, label=f"{split}, {method.upper()}")  # fmt: skip
    ax.set_xticks(range(1 + max((int(r) for m in comparison["methods"].values() for r in m), default=0)))
    ax.set_xlabel("round (0 = starting policy)")
    ylabel = "greedy pass@1 (%)"
    if "seeds" in comparison:
        ylabel += f", mean ± sd over {len(comparison['seeds'])} seeds"
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return True


def print_comparison(comparison: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    seeds = comparison.get("seeds")
    title = "plum demo: greedy pass@1 (points gained over the starting policy)"
    if seeds:
        title += f"; mean ± sd over seeds {', '.join(map(str, seeds))}"
    table = Table(title=title)
    table.add_column("policy")
    for split in SPLITS:
        table.add_column(split, justify="right")
    start = comparison["start"]
    table.add_row("start", *(_cell(start.get(s)) for s in SPLITS))
    for method, rounds in comparison["methods"].items():
        for round_, scores in rounds.items():
            cells = [_cell(scores.get(s), start.get(s)) for s in SPLITS]
            table.add_row(f"{method.upper()} round {round_}", *cells)
    console.print(table)


def _cell(value: float | dict[str, Any] | None, base: float | dict[str, Any] | None = None) -> str:
    """``41.2 (+12.9)`` for one seed; ``41.2 ± 1.3 (+12.9 ± 1.3)`` over seeds."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        text = f"{100 * value['mean']:.1f} ± {100 * value['sd']:.1f}"
        gain = value.get("gain")
        return text + (f" ({100 * gain['mean']:+.1f} ± {100 * gain['sd']:.1f})" if gain else "")
    if base is None:
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} ({100 * (value - base):+.1f})"


def _check_models() -> None:
    for folder in (POLICY_DIR, TESTGEN_DIR):
        if not (folder / "model.safetensors").is_file():
            raise PlumError(f"{folder}: demo model missing (regenerate with scripts/train_demo_models.py)")

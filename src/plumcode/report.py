"""The report of a run folder: ``report.html`` with PNG plots beside it, and a summary table.

Everything is read back from the files the loop leaves in the run folder (``summary.json``,
each round's ``results.jsonl``, ``prefs/stats.json`` and ``train/log_history.json``, the
synthesized tests and their stats), so a report can be made for a run in progress, a finished
one, or one copied from another machine.
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from plum_data.preferences import STATS_FILE as PREFS_STATS_FILE
from plum_exec.errors import PlumError
from plum_exec.jsonl import atomic_path, read_jsonl
from plum_exec.records import INFRA_ERROR, PASS
from plum_train.training import LOG_FILE as TRAIN_LOG_FILE
from plumcode.loop import RunFolder, flatten

T = TypeVar("T")

# Training-log keys drawn as curves: the loss, what TRL's KTO/DPO/GRPO trainers log as rewards and
# KL, and the share of GRPO's completions passing every test (plum_exec.rewards).
CURVE_PREFIXES = ("loss", "rewards/", "kl", "plum/all_pass")


@dataclass
class RunData:
    """What a report shows, read from a run folder."""

    eval: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    pass_rates: dict[int, list[float]] = field(default_factory=dict)
    tests_per_problem: list[int] = field(default_factory=list)
    testgen_stats: dict[str, Any] = field(default_factory=dict)
    labels: dict[int, dict[str, int]] = field(default_factory=dict)
    train_logs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    grpo: dict[int, dict[str, Any]] = field(default_factory=dict)  # GRPO rounds' rewards, pass rate, KL
    config_text: str = ""
    versions: dict[str, Any] = field(default_factory=dict)

    @property
    def eval_names(self) -> list[str]:
        return sorted({name for evals in self.eval.values() for name in evals})


def write_report(run_dir: str | Path, *, console: Any = None) -> Path:
    """Write ``report.html`` and ``plots/*.png`` in ``run_dir``, print the summary table, return the page."""
    folder = RunFolder(run_dir)
    if not folder.config.is_file():
        raise PlumError(f"{folder.root}: not a run folder (no config.yaml)")
    data = collect(folder)
    plots = {title: path for title, path in draw_plots(data, folder.plots) if path is not None}
    page = folder.root / "report.html"
    with atomic_path(page) as tmp:
        tmp.write_text(render_html(data, plots), encoding="utf-8")
    print_summary(data, console)
    return page


def collect(folder: RunFolder) -> RunData:
    """Read everything a report needs; missing files (an unfinished run) just leave gaps."""
    data = RunData(config_text=folder.config.read_text(encoding="utf-8"))
    if folder.versions.is_file():
        data.versions = json.loads(folder.versions.read_text(encoding="utf-8"))
    if folder.summary.is_file():
        summary = json.loads(folder.summary.read_text(encoding="utf-8"))
        data.eval = {int(row["round"]): row.get("eval", {}) for row in summary.get("rounds", [])}
        data.grpo = {int(row["round"]): row["train"] for row in summary.get("rounds", []) if "train" in row}
    for round_ in folder.rounds():
        if folder.results(round_).is_file():
            data.pass_rates[round_] = per_problem_pass_rates(folder.results(round_))
        prefs_stats = folder.prefs(round_) / PREFS_STATS_FILE
        if prefs_stats.is_file():
            data.labels[round_] = label_counts(json.loads(prefs_stats.read_text(encoding="utf-8")))
        train_log = folder.train(round_) / TRAIN_LOG_FILE
        if train_log.is_file():
            data.train_logs[round_] = json.loads(train_log.read_text(encoding="utf-8"))
    if folder.tests.is_file():
        data.tests_per_problem = [len(row.get("tests", [])) for row in read_jsonl(folder.tests)]
    marker = folder.marker("tests")
    if marker.is_file():
        data.testgen_stats = flatten(
            json.loads(marker.read_text(encoding="utf-8"))["stats"], sep=" / "
        )
    return data


def per_problem_pass_rates(results_path: Path) -> list[float]:
    """Fraction of each problem's samples that pass all its tests (infra errors left out).

    A sample retried after an infra error has several rows; its last one counts, as in
    ``plum_exec.evaluation``.
    """
    status = {
        (row["task_id"], row["sample_id"]): row["base_status"]
        for row in read_jsonl(results_path, tolerate_torn_tail=True)
    }
    passed: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for (task_id, _), verdict in status.items():
        if verdict != INFRA_ERROR:
            total[task_id] += 1
            passed[task_id] += verdict == PASS
    return [passed[task] / total[task] for task in total]


def label_counts(prefs_stats: dict[str, Any]) -> dict[str, int]:
    """KTO's desirable/undesirable rows and DPO's pairs, from ``plum prefs``'s stats."""
    return {
        "desirable": prefs_stats.get("kto_desirable", 0),
        "undesirable": prefs_stats.get("kto_undesirable", 0),
        "DPO pairs": prefs_stats.get("dpo_pairs", 0),
    }


# --- plots -------------------------------------------------------------------------------------


def draw_plots(data: RunData, out_dir: Path) -> list[tuple[str, Path | None]]:
    """Each plot as (title, PNG path), the path None where the run has no data for it yet."""
    plots: list[tuple[str, Callable[[Any, RunData], bool]]] = [
        ("pass@1 per round", _plot_pass_at_1),
        ("Per-problem pass rate of the policy's samples", _plot_pass_rates),
        ("Synthesized tests per problem", _plot_tests),
        ("Label balance of the preference data", _plot_labels),
        ("Training curves", _plot_training),
    ]
    return [
        (title, save_plot(draw, data, out_dir / f"{draw.__name__[6:]}.png"))
        for title, draw in plots
    ]


def save_plot(draw: Callable[[Any, T], bool], data: T, path: Path) -> Path | None:
    """Draw ``data`` on a fresh figure and write it to ``path`` as PNG; None if ``draw`` had
    nothing to show."""
    # A bare Figure renders through Agg without pyplot: no global backend, no display needed.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout="constrained")
    if not draw(fig, data):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def _plot_pass_at_1(fig: Any, data: RunData) -> bool:
    if not data.eval_names:
        return False
    ax = fig.subplots()
    for name in data.eval_names:
        rounds = [r for r in sorted(data.eval) if name in data.eval[r]]
        ax.plot(
            rounds, [100 * data.eval[r][name]["pass@1"] for r in rounds], marker="o", label=name
        )
    ax.set_xlabel("round (0 = starting policy)")
    ax.set_ylabel("pass@1 (%)")
    ax.set_xticks(sorted(data.eval))
    ax.grid(alpha=0.3)
    ax.legend()
    return True


def _plot_pass_rates(fig: Any, data: RunData) -> bool:
    if not data.pass_rates:
        return False
    ax = fig.subplots()
    rounds = sorted(data.pass_rates)
    ax.hist(
        [data.pass_rates[r] for r in rounds],
        bins=10,
        range=(0, 1),
        label=[f"round {r}: policy {r - 1} ({len(data.pass_rates[r])} problems)" for r in rounds],
    )
    ax.set_xlabel("fraction of a problem's samples passing all its tests")
    ax.set_ylabel("problems")
    ax.legend()
    return True


def _plot_tests(fig: Any, data: RunData) -> bool:
    if not data.tests_per_problem:
        return False
    ax = fig.subplots()
    counts = Counter(data.tests_per_problem)
    ax.bar(list(counts), list(counts.values()))
    ax.set_xlabel("validated tests")
    ax.set_ylabel("problems")
    return True


def _plot_labels(fig: Any, data: RunData) -> bool:
    if not data.labels:
        return False
    ax = fig.subplots()
    rounds = sorted(data.labels)
    kinds = list(dict.fromkeys(kind for counts in data.labels.values() for kind in counts))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        ax.bar(
            [r + i * width for r in rounds],
            [data.labels[r].get(kind, 0) for r in rounds],
            width,
            label=kind,
        )
    ax.set_xticks([r + 0.4 - width / 2 for r in rounds], [f"round {r}" for r in rounds])
    ax.set_ylabel("training examples")
    ax.legend()
    return True


def _plot_training(fig: Any, data: RunData) -> bool:
    curves = _training_curves(data.train_logs)
    if not curves:
        return False
    axes = fig.subplots(1, 2) if any(key != "loss" for key in curves) else [fig.subplots()]
    for key, points in curves.items():
        ax = axes[0] if key == "loss" else axes[1]
        ax.plot(*zip(*points, strict=True), marker=".", label=key)
    for ax in axes:
        ax.set_xlabel("step (all rounds, in order)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return True


def _training_curves(logs: dict[int, list[dict[str, Any]]]) -> dict[str, list[tuple[int, float]]]:
    """Curves over the rounds laid end to end: round r's steps follow round r-1's."""
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    offset = 0
    for round_ in sorted(logs):
        last_step = 0
        for entry in logs[round_]:
            step = int(entry.get("step", 0))
            last_step = max(last_step, step)
            for key, value in entry.items():
                if key.startswith(CURVE_PREFIXES) and isinstance(value, int | float):
                    curves[key].append((offset + step, float(value)))
        offset += last_step
    return dict(curves)


# --- HTML and the summary table -----------------------------------------------------------------


def summary_rows(data: RunData) -> list[list[str]]:
    """One row per round: pass@1 per eval set (with the change since round 0), labels, final loss."""
    rounds = sorted(set(data.eval) | set(data.labels) | set(data.train_logs))
    baseline = data.eval.get(0, {})
    rows = []
    for round_ in rounds:
        row = [str(round_)]
        for name in data.eval_names:
            value = data.eval.get(round_, {}).get(name)
            row.append(_format_pass(value, baseline.get(name), round_))
        counts = data.labels.get(round_, {})
        row.append(", ".join(f"{kind} {n}" for kind, n in counts.items()) or "-")
        losses = [e["loss"] for e in data.train_logs.get(round_, []) if "loss" in e]
        row.append(f"{losses[-1]:.4f}" if losses else "-")
        if data.grpo:
            row.append(_format_grpo(data.grpo.get(round_)))
        rows.append(row)
    return rows


def summary_header(data: RunData) -> list[str]:
    return [
        "round",
        *(f"{name} pass@1" for name in data.eval_names),
        "preference data",
        "final loss",
        *(["GRPO reward (first -> last), all-pass, KL"] if data.grpo else []),
    ]


def _format_pass(value: dict[str, Any] | None, base: dict[str, Any] | None, round_: int) -> str:
    if value is None:
        return "-"
    text = f"{100 * value['pass@1']:.1f}%"
    if base is not None and round_ > 0:
        text += f" ({100 * (value['pass@1'] - base['pass@1']):+.1f})"
    return text


def _format_grpo(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    text = f"{stats['reward_first']:.3f} -> {stats['reward_last']:.3f}"
    if stats.get("pass_rate") is not None:
        text += f", {100 * stats['pass_rate']:.1f}%"
    return text + (f", KL {stats['kl']:.4f}" if stats.get("kl") is not None else "")


def print_summary(data: RunData, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="PLUM run summary")
    for column in summary_header(data):
        table.add_column(column, justify="right" if "pass" in column else "left")
    for row in summary_rows(data):
        table.add_row(*row)
    (console or Console()).print(table)


def render_html(data: RunData, plots: dict[str, Path]) -> str:
    """A self-contained page: plots inlined as base64 (the PNG files stay beside it too)."""
    header = "".join(f"<th>{html.escape(c)}</th>" for c in summary_header(data))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in summary_rows(data)
    )
    figures = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
        f"src='data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}'>"
        for title, path in plots.items()
    )
    stats = _key_value_table({**data.testgen_stats, **_tests_summary(data.tests_per_problem)})
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>PLUM run report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}img{{max-width:100%}}</style></head>
<body><h1>PLUM run report</h1>
<h2>Summary</h2><table><tr>{header}</tr>{body}</table>
{figures}
<h2>Test synthesis</h2>{stats}
<h2>Versions</h2>{_key_value_table(data.versions)}
<h2>Configuration</h2><pre>{html.escape(data.config_text)}</pre>
</body></html>
"""


def _tests_summary(tests_per_problem: list[int]) -> dict[str, Any]:
    if not tests_per_problem:
        return {}
    with_tests = [n for n in tests_per_problem if n > 0]
    return {
        "problems": len(tests_per_problem),
        "problems with tests": len(with_tests),
        "tests per problem (mean, those with tests)": round(
            sum(with_tests) / max(len(with_tests), 1), 2
        ),
    }


def _key_value_table(values: dict[str, Any]) -> str:
    if not values:
        return "<p>none yet</p>"
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in values.items()
    )
    return f"<table>{rows}</table>"

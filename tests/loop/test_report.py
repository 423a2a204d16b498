"""plum report on a run folder whose files are written here (test data in the loop's layout)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from plum_exec.errors import PlumError
from plum_exec.jsonl import write_json, write_jsonl
from plumcode.cli import main
from plumcode.loop import RunFolder, config_to_dict, run_config_from_dict
from plumcode.report import collect, per_problem_pass_rates, summary_rows, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def result(task: str, sample: int, status: str) -> dict:
    return {"task_id": task, "sample_id": sample, "base_status": status, "base_outcomes": []}


def make_run(root: Path, *, rounds: int = 2) -> RunFolder:
    folder = RunFolder(root)
    config = run_config_from_dict(
        {"policy": {"model": "m"}, "instructions": {"problems": "p.jsonl"}, "rounds": rounds}
    )
    root.mkdir(parents=True)
    folder.config.write_text(yaml.safe_dump(config_to_dict(config)), encoding="utf-8")
    write_json(folder.versions, {"python": "3.11.0", "trl": "1.16.0"})
    summary = [
        {
            "round": 0,
            "eval": {"humaneval": {"pass@1": 0.25, "n": 4}, "seen": {"pass@1": 0.5, "n": 2}},
        }
    ]
    for r in range(1, rounds + 1):
        summary.append({"round": r, "eval": {"humaneval": {"pass@1": 0.25 + 0.25 * r, "n": 4}}})
        # Round r: task a passes r of 4 samples, task b none.
        rows = [result("a", i, "pass" if i < r else "fail") for i in range(4)]
        rows += [result("b", i, "error") for i in range(4)]
        # Task c: sample 0 hit an infra error; sample 1 did too, then passed when retried.
        rows += [result("c", 0, "infra_error"), result("c", 1, "infra_error"), result("c", 1, "pass")]
        write_jsonl(folder.results(r), rows)
        write_json(
            folder.prefs(r) / "stats.json",
            {"kto_desirable": r + 1, "kto_undesirable": 6, "dpo_pairs": 3 * r},
        )
        log = [{"step": s, "loss": 1.0 / (s + r), "rewards/chosen": 0.1 * s} for s in range(1, 4)]
        write_json(folder.train(r) / "log_history.json", [*log, {"step": 3, "train_runtime": 1.5}])
    write_json(folder.summary, {"rounds": summary})
    write_jsonl(
        folder.tests,
        [
            {"task_id": t, "prompt": "p", "tests": ["assert 1"] * n}
            for t, n in (("a", 3), ("b", 3), ("c", 5))
        ],
    )
    write_json(
        folder.marker("tests"),
        {
            "stage": "tests",
            "fingerprint": "x",
            "stats": {"problems_in": 4, "tests_per_problem": {"mean": 3.7}},
        },
    )
    return folder


def test_per_problem_pass_rates_leave_out_infra_errors(tmp_path):
    folder = make_run(tmp_path / "run")
    assert sorted(per_problem_pass_rates(folder.results(1))) == [0.0, 0.25, 1.0]
    assert sorted(per_problem_pass_rates(folder.results(2))) == [0.0, 0.5, 1.0]


def test_report_writes_page_plots_and_summary(tmp_path):
    folder = make_run(tmp_path / "run")
    console = Console(record=True, width=160)
    page = write_report(folder.root, console=console)

    assert page == folder.root / "report.html"
    pngs = sorted(folder.plots.glob("*.png"))
    assert [p.stem for p in pngs] == ["labels", "pass_at_1", "pass_rates", "tests", "training"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in pngs)
    html = page.read_text(encoding="utf-8")
    assert len(re.findall(r"src='data:image/png;base64,", html)) == 5  # self-contained
    assert "problems_in" in html and "tests_per_problem / mean" in html
    assert "trl" in html and "1.16.0" in html

    text = console.export_text()
    assert "75.0% (+50.0)" in text  # humaneval, round 2 against round 0
    assert "50.0%" in text  # the seen split, round 0 only
    assert not list(folder.root.glob(".*.tmp")) and not list(folder.root.glob(".report.html.*"))


def test_summary_rows_follow_the_files(tmp_path):
    data = collect(make_run(tmp_path / "run", rounds=1))
    rows = summary_rows(data)
    assert [row[0] for row in rows] == ["0", "1"]
    assert rows[1][1] == "50.0% (+25.0)"
    assert rows[1][3] == "desirable 2, undesirable 6, DPO pairs 3"
    assert rows[1][4] == f"{1.0 / 4:.4f}"  # the last logged loss of round 1
    assert data.tests_per_problem == [3, 3, 5]


def test_report_of_a_run_that_has_only_started(tmp_path):
    folder = make_run(tmp_path / "run")
    for path in [
        folder.summary,
        folder.tests,
        folder.marker("tests"),
        *folder.root.glob("round_*/**/*.json*"),
    ]:
        path.unlink()
    page = write_report(folder.root, console=Console(file=io.StringIO()))
    assert "none yet" in page.read_text(encoding="utf-8")
    assert not list(folder.plots.glob("*.png"))


def test_not_a_run_folder(tmp_path):
    with pytest.raises(PlumError, match="not a run folder"):
        write_report(tmp_path)


def test_cli_report(tmp_path, capsys):
    folder = make_run(tmp_path / "run")
    assert main(["report", str(folder.root)]) == 0
    out = capsys.readouterr().out
    assert "PLUM run summary" in out and "report.html" in out
    assert json.loads(folder.summary.read_text())["rounds"][0]["round"] == 0

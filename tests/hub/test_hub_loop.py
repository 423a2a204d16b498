"""``plum run``'s ``hub:`` section and ``plum demo --push-to-hub``: each round's datasets (and
model) reach the local Hub under the documented names, resuming pushes what was not pushed, and
publishing changes no stage's work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from plum_exec.errors import PlumError
from plum_exec.jsonl import read_jsonl, write_jsonl
from plumcode.demo.run import demo_config_values, hub_values, write_config
from plumcode.loop import RunFolder, fingerprints, run_config_from_dict
from plumcode.loop.hub import hub_names
from plumcode.loop.stages import RunStages


def problem(task_id: str, expected: int) -> dict[str, Any]:
    return {"task_id": task_id, "prompt": f"Write a function f() that returns {expected}.", "entry_point": "f",
            "setup": "def f():\n    return 1\n", "tests": [f"assert f() == {expected}"]}  # fmt: skip


def run_values(policy: Path, problems: Path, **hub: Any) -> dict[str, Any]:
    """tests/loop/test_loop_run.py's small run, with a hub section."""
    values: dict[str, Any] = {
        "policy": {"model": str(policy), "batch_size": 8},
        "instructions": {"problems": str(problems)},
        "sampling": {"n": 2, "max_new_tokens": 8},
        "execution": {"workers": 2},
        "training": {"max_steps": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
                     "max_length": 96, "learning_rate": 1e-2, "warmup_steps": 0, "save_steps": 1},
        "evaluation": {"splits": {"seen": str(problems)}, "sampling": {"max_new_tokens": 8}},
        "rounds": 1,
    }  # fmt: skip
    if hub:
        values["hub"] = hub
    return values


@pytest.mark.slow
def test_run_publishes_every_rounds_datasets_and_model(runner, tiny_model_dir):
    problems = runner.root / "problems.jsonl"
    write_jsonl(problems, [problem("easy/0", 1), problem("easy/1", 1), problem("hard/0", 2), problem("hard/1", 2)])
    config = runner.root / "run.yaml"
    config.write_text(yaml.safe_dump(run_values(tiny_model_dir, problems, namespace="ns", name="tiny", model=True)))
    first = runner.run(["plum", "run", config, "--run-dir", "run", "--no-report"])
    names = ["ns/tiny-tests", "ns/tiny-r01-samples", "ns/tiny-r01-results", "ns/tiny-r01-prefs"]
    for repo_id in names:
        assert f"published {repo_id}" in first.stderr
    assert ("models", "ns/tiny-r01-policy") in runner.hub.state.repos
    # The model card names the preference data it was trained on, by the commit that was read.
    model_card = runner.hub.state.repos[("models", "ns/tiny-r01-policy")].commit("main").files["README.md"].decode()
    prefs_sha = runner.hub.state.repos[("datasets", "ns/tiny-r01-prefs")].branches["main"]
    assert f"Trained on `ns/tiny-r01-prefs` at commit `{prefs_sha}`" in model_card
    assert f'"sha": "{prefs_sha}"' in model_card and '"hub_id": "ns/tiny-r01-prefs"' in model_card
    record = json.loads((runner.root / "run" / "hub.json").read_text())
    assert {entry["repo_id"] for entry in record.values()} == set(names)
    assert record["round_01/prefs"]["sha"] == runner.hub.state.repos[("datasets", "ns/tiny-r01-prefs")].branches["main"]
    kto = list(read_jsonl(runner.root / "run" / "round_01" / "prefs" / "kto.jsonl"))
    assert runner.load_rows("ns/tiny-r01-prefs", "kto") == kto
    # The prefs card pins its inputs by the commits the run pushed.
    card = (runner.root / "run" / "round_01" / "prefs" / "README.md").read_text()
    assert record["round_01/execute"]["sha"] in card
    # A run interrupted after a stage but before its push: resuming pushes it and redoes no work.
    del record["round_01/execute"]
    (runner.root / "run" / "hub.json").write_text(json.dumps(record))
    commits_before = len(runner.hub.state.repos[("datasets", "ns/tiny-r01-results")].commits)
    resumed = runner.run(["plum", "run", "run", "--no-report"])
    assert "published ns/tiny-r01-results" in resumed.stderr and "started" not in resumed.stderr
    assert "published ns/tiny-r01-samples" not in resumed.stderr
    assert len(runner.hub.state.repos[("datasets", "ns/tiny-r01-results")].commits) == commits_before + 1


def test_a_wrong_token_stops_the_run_before_any_stage(runner, tiny_model_dir):
    problems = runner.root / "problems.jsonl"
    write_jsonl(problems, [problem("easy/0", 1)])
    config = runner.root / "run.yaml"
    config.write_text(yaml.safe_dump(run_values(tiny_model_dir, problems, namespace="ns")))
    failed = runner.run(["plum", "run", config, "--run-dir", "run", "--no-report"], check=False,
                        HF_TOKEN="hf_wrongwrongwrongwrongwrong")  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1].startswith("plum: error: --push-to-hub ns/run-check: the Hub rejected the token")
    assert not list((runner.root / "run").glob("*.done"))


def test_publishing_changes_no_stage_of_the_demo(tmp_path):
    """pass@1 cannot move: every stage has the same fingerprint (settings and inputs) with and without hub."""
    plain = demo_config_values(tmp_path)
    published = {**plain, "hub": hub_values("ns", tmp_path)}
    prints = []
    for name, values in (("plain", plain), ("published", published)):
        config = write_config(tmp_path / f"{name}.yaml", values)
        prints.append(fingerprints(RunStages(config, RunFolder(tmp_path / name), Console(quiet=True)).stages()))
    assert prints[0] == prints[1]
    config = write_config(tmp_path / "published.yaml", published)
    assert hub_names(config.hub, RunFolder(tmp_path)).repo("prefs", 2) == f"ns/plum-demo-{tmp_path.name}-r02-prefs"
    assert config.hub.model and set(config.hub.stages) == {"tests", "samples", "results", "prefs"}


def test_hub_section_errors_name_the_key():
    with pytest.raises(PlumError, match=r"^config: hub: unknown stage\(s\) bogus \(stages: tests, samples"):
        run_config_from_dict({**run_values(Path("m"), Path("p.jsonl")), "hub": {"namespace": "ns", "stages": ["bogus"]}})

"""plum run end to end on the tiny model: every stage wired, resume after a crash in each stage,
config changes on an existing run folder, dry runs.

The instructions are built so that verdicts do not hang on what a random model writes: every
problem's ``setup`` defines ``f`` returning 1, and what the tiny model writes almost never
survives extraction (no ``f`` in it), so ``easy/*`` (``assert f() == 1``) pass and ``hard/*``
(``assert f() == 2``) fail. Both labels exist, KTO trains, and pass@1 is about 0.5.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import plumcode
from plum_exec.errors import PlumError
from plum_exec.jsonl import read_jsonl, write_jsonl
from plumcode.cli import main
from plumcode.loop import RunConfig, RunFolder, dry_run, fingerprints, run, run_config_from_dict
from plumcode.loop.stages import RunStages
from plumcode.report import write_report

QUIET = Console(quiet=True)
STAGE_KEYS = [
    "tests",
    "round_00/eval/seen/sample",
    "round_00/eval/seen/execute",
    "round_01/sample",
    "round_01/execute",
    "round_01/prefs",
    "round_01/train",
    "round_01/eval/seen/sample",
    "round_01/eval/seen/execute",
]


def problem(task_id: str, expected: int) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "prompt": f"Write a function f() that returns {expected}.",
        "entry_point": "f",
        "setup": "def f():\n    return 1\n",
        "tests": [f"assert f() == {expected}"],
    }


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("problems") / "problems.jsonl"
    write_jsonl(
        path,
        [problem(f"easy/{i}", 1) for i in range(3)] + [problem(f"hard/{i}", 2) for i in range(3)],
    )
    return path


def config_dict(model: Path, problems: Path, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "policy": {"model": str(model), "batch_size": 8},
        "instructions": {"problems": str(problems)},
        "sampling": {"n": 2, "max_new_tokens": 8},
        "execution": {"workers": 2},
        "training": {
            "max_steps": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
            "max_length": 96, "learning_rate": 1e-2, "warmup_steps": 0, "save_steps": 1,
        },
        "evaluation": {"splits": {"seen": str(problems)}, "sampling": {"max_new_tokens": 8}},
        "rounds": 1,
    }  # fmt: skip
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            values[section] = {**values.get(section, {}), key: value}
        else:
            values[section] = value
    return values


def make_config(model: Path, problems: Path, **changes: Any) -> RunConfig:
    return run_config_from_dict(config_dict(model, problems, **changes))


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, tiny_model_dir, problems_file) -> Path:
    """One uninterrupted run, shared (read-only) by the tests below; they copy it to change it."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    run(make_config(tiny_model_dir, problems_file), run_dir, console=QUIET)
    write_report(run_dir, console=QUIET)
    return run_dir


def digest(folder: RunFolder, keys: list[str]) -> dict[str, str]:
    """Hashes of every file a set of stages wrote (markers and outputs)."""
    loop = RunStages(
        run_config_from_dict(json.loads(json.dumps(_stored_config(folder)))), folder, None
    )
    files: dict[str, str] = {}
    for stage in loop.stages():
        if stage.key not in keys:
            continue
        for path in [folder.marker(stage.key), *stage.outputs]:
            for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
                if file.is_file():
                    files[str(file.relative_to(folder.root))] = hashlib.sha256(
                        file.read_bytes()
                    ).hexdigest()
    return files


def _stored_config(folder: RunFolder) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(folder.config.read_text(encoding="utf-8"))


def done_keys(folder: RunFolder) -> list[str]:
    return [key for key in STAGE_KEYS if folder.marker(key).is_file()]


# --- the whole loop ----------------------------------------------------------------------------


def test_run_wires_every_stage(reference_run, tiny_model_dir):
    folder = RunFolder(reference_run)
    assert done_keys(folder) == STAGE_KEYS

    versions = json.loads(folder.versions.read_text())
    assert {"python", "torch", "transformers", "trl", "peft", "plumcode"} <= set(versions)

    samples = list(read_jsonl(folder.samples(1)))
    assert sorted((s["task_id"], s["sample_id"]) for s in samples) == sorted(
        (f"{kind}/{i}", j) for kind in ("easy", "hard") for i in range(3) for j in range(2)
    )
    verdicts = {
        (r["task_id"], r["sample_id"]): r["base_status"] for r in read_jsonl(folder.results(1))
    }
    assert set(verdicts) == {(s["task_id"], s["sample_id"]) for s in samples}
    assert all(v != "pass" for (task, _), v in verdicts.items() if task.startswith("hard/"))

    # Each KTO row is its own sample's response, labelled with that sample's verdict.
    responses = {(s["task_id"], s["sample_id"]): s["response"] for s in samples}
    kto_rows = list(read_jsonl(folder.prefs(1) / "kto.jsonl"))
    assert kto_rows
    for row in kto_rows:
        key = (row["task_id"], row["sample_id"])
        assert row["label"] is (verdicts[key] == "pass"), key
        assert row["completion"] == [{"role": "assistant", "content": responses[key]}], key

    prefs = json.loads((folder.prefs(1) / "stats.json").read_text())
    labels = [row["label"] for row in read_jsonl(folder.prefs(1) / "kto.jsonl")]
    assert (
        prefs["kto_desirable"] == sum(labels) > 0
        and prefs["kto_undesirable"] == labels.count(False) > 0
    )
    assert prefs["format"] == "conversational"  # the tiny model has a chat template

    model = folder.train(1) / "model"
    assert (model / "config.json").is_file()
    trained = json.loads(folder.marker("round_01/train").read_text())["stats"]
    assert trained["model"] == str(model) and trained["steps"] == 2

    summary = json.loads(folder.summary.read_text())
    assert [row["round"] for row in summary["rounds"]] == [0, 1]
    for row in summary["rounds"]:
        results = list(read_jsonl(folder.eval(row["round"], "seen") / "results.jsonl"))
        assert row["eval"]["seen"] == {
            "pass@1": sum(r["base_status"] == "pass" for r in results) / len(results),
            "n": 6,
        }
    assert (folder.root / "report.html").is_file() and (folder.plots / "pass_at_1.png").is_file()


def test_rerun_of_a_finished_run_redoes_nothing(
    tmp_path, reference_run, tiny_model_dir, problems_file
):
    copy = Path(shutil.copytree(reference_run, tmp_path / "run"))
    before = digest(RunFolder(copy), STAGE_KEYS)
    # A different worker count, or another Ray cluster, changes speed, not results: not a config change.
    run(
        make_config(tiny_model_dir, problems_file, execution__workers=1, execution__ray="127.0.0.1:9"),
        copy,
        console=QUIET,
    )
    assert digest(RunFolder(copy), STAGE_KEYS) == before


# --- resume after a crash in the middle of each stage ---------------------------------------------


def crash_after_half(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, argument: int
) -> None:
    """Patch ``module.name`` to do the first half of its work (positional ``argument`` is the
    problems dict or sample list), then die as if the machine went down."""
    real = getattr(module, name)

    def half_then_crash(*args: Any, **kwargs: Any) -> Any:
        work = args[argument]
        half = (
            dict(list(work.items())[: len(work) // 2])
            if isinstance(work, dict)
            else work[: len(work) // 2]
        )
        real(*args[:argument], half, *args[argument + 1 :], **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, name, half_then_crash)


def crash_after(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """Patch ``owner.name`` to finish its work, then die before the loop marks the stage done."""
    real = getattr(owner, name)

    def finish_then_crash(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(owner, name, finish_then_crash)


def crash_before(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(owner, name, crash)


def test_resume_after_a_crash_in_each_stage(tmp_path, reference_run, tiny_model_dir, problems_file):
    import plum_data.preferences
    import plum_data.sampling
    import plum_exec.evaluation
    import plum_train.training

    config = make_config(tiny_model_dir, problems_file)
    folder = RunFolder(tmp_path / "run")
    crashes = [
        ("tests", lambda mp: crash_after(mp, RunStages, "copy_given_tests")),
        (
            "round_00/eval/seen/sample",
            lambda mp: crash_after_half(mp, plum_data.sampling, "sample_problems", 0),
        ),
        (
            "round_00/eval/seen/execute",
            lambda mp: crash_after_half(mp, plum_exec.evaluation, "evaluate_samples", 1),
        ),
        (
            "round_01/sample",
            lambda mp: crash_after_half(mp, plum_data.sampling, "sample_problems", 0),
        ),
        (
            "round_01/execute",
            lambda mp: crash_after_half(mp, plum_exec.evaluation, "evaluate_samples", 1),
        ),
        ("round_01/prefs", lambda mp: crash_after(mp, plum_data.preferences, "build_preferences")),
        # Killed after the last optimizer step's checkpoint, before the export.
        ("round_01/train", lambda mp: crash_before(mp, plum_train.training, "_export")),
        (
            "round_01/eval/seen/sample",
            lambda mp: crash_after_half(mp, plum_data.sampling, "sample_problems", 0),
        ),
        (
            "round_01/eval/seen/execute",
            lambda mp: crash_after_half(mp, plum_exec.evaluation, "evaluate_samples", 1),
        ),
    ]
    partial_rows: dict[str, list[str]] = {}
    for key, inject in crashes:
        finished = done_keys(folder)
        before = digest(folder, finished) if finished else {}
        with pytest.MonkeyPatch.context() as mp:
            inject(mp)
            with pytest.raises(KeyboardInterrupt):
                run(config, folder.root, console=QUIET)
        assert done_keys(folder) == STAGE_KEYS[: STAGE_KEYS.index(key)], key
        assert digest(folder, finished) == before, (
            f"finished work was redone while crashing in {key}"
        )
        log = _append_only_log(folder, key)
        if log is not None:
            partial_rows[key] = log.read_text().splitlines()
            assert len(partial_rows[key]) > 0, key

    run(config, folder.root, console=QUIET)
    assert done_keys(folder) == STAGE_KEYS
    for key, rows in partial_rows.items():  # rows written before a crash are kept, not redone
        log = _append_only_log(folder, key)
        assert log is not None and log.read_text().splitlines()[: len(rows)] == rows
        keys = [(r["task_id"], r["sample_id"]) for r in read_jsonl(log)]
        assert (
            len(keys)
            == len(set(keys))
            == (12 if key in ("round_01/sample", "round_01/execute") else 6)
        )

    # The same artifacts as the uninterrupted run: same stages, same evaluation, same data sizes.
    reference = RunFolder(reference_run)
    assert json.loads(folder.summary.read_text()) == json.loads(reference.summary.read_text())
    for name in ("kto.jsonl", "dpo.jsonl"):
        assert len(list(read_jsonl(folder.prefs(1) / name))) == len(
            list(read_jsonl(reference.prefs(1) / name))
        )
    log_history = json.loads((folder.train(1) / "log_history.json").read_text())
    assert [e["step"] for e in log_history if "loss" in e] == [1, 2]  # not trained twice


def _append_only_log(folder: RunFolder, key: str) -> Path | None:
    if key.endswith("/sample"):
        return (
            folder.samples(1)
            if key == "round_01/sample"
            else folder.root / key.replace("/sample", "/samples.jsonl")
        )
    if key.endswith("/execute"):
        return (
            folder.results(1)
            if key == "round_01/execute"
            else folder.root / key.replace("/execute", "/results.jsonl")
        )
    return None


# --- config changes on an existing run ---------------------------------------------------------


def test_changed_config_is_refused_then_forced(
    tmp_path, reference_run, tiny_model_dir, problems_file
):
    copy = RunFolder(shutil.copytree(reference_run, tmp_path / "run"))
    before = digest(copy, STAGE_KEYS)
    changed = make_config(tiny_model_dir, problems_file, training__beta=0.2)

    with pytest.raises(PlumError) as info:
        run(changed, copy.root, console=QUIET)
    message = str(info.value)
    assert "training.beta: 0.1 -> 0.2" in message and "first round_01/train" in message
    assert "3 started or finished stages" in message  # train, then the round-1 evaluation
    assert digest(copy, STAGE_KEYS) == before
    assert _stored_config(copy)["training"]["beta"] == 0.1

    old_train = json.loads(copy.marker("round_01/train").read_text())["fingerprint"]
    run(changed, copy.root, force=True, console=QUIET)
    upstream = STAGE_KEYS[:6]  # tests, round-0 evaluation, round-1 sample/execute/prefs
    assert digest(copy, upstream) == {
        k: v for k, v in before.items() if k in digest(copy, upstream)
    }
    assert json.loads(copy.marker("round_01/train").read_text())["fingerprint"] != old_train
    assert _stored_config(copy)["training"]["beta"] == 0.2
    prints = fingerprints(RunStages(changed, copy, None).stages())
    for key in STAGE_KEYS:
        assert json.loads(copy.marker(key).read_text())["fingerprint"] == prints[key]


def test_more_rounds_continue_a_finished_run(
    tmp_path, reference_run, tiny_model_dir, problems_file
):
    copy = RunFolder(shutil.copytree(reference_run, tmp_path / "run"))
    before = digest(copy, STAGE_KEYS)
    summary = run(
        make_config(tiny_model_dir, problems_file, rounds=2), copy.root, console=QUIET
    )
    assert digest(copy, STAGE_KEYS) == before
    assert [row["round"] for row in summary["rounds"]] == [0, 1, 2]
    assert copy.marker("round_02/train").is_file()
    train_config = json.loads((copy.train(2) / "train_config.json").read_text())
    assert str(copy.train(1) / "model") in json.dumps(
        train_config
    )  # round 2 starts from round 1's policy


# --- planning, locking, bad input --------------------------------------------------------------


def test_dry_run_plans_and_estimates_without_loading_models(
    tmp_path, monkeypatch, tiny_model_dir, problems_file
):
    import plum_data.generation

    def no_models(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the dry run loaded a model")

    monkeypatch.setattr(plum_data.generation, "load_generator", no_models)
    config = make_config(tiny_model_dir, problems_file, rounds=3)
    console = Console(record=True, width=200)
    cost = dry_run(config, tmp_path / "run", console=console)
    text = console.export_text()
    assert text.count("todo") == 1 + 2 + 3 * 6  # tests, round 0 eval, 3 rounds of 6 stages
    assert not (tmp_path / "run").exists()
    instructions, n, rounds = 6, config.sampling.n, 3
    assert cost["policy samples (training instructions)"] == rounds * instructions * n
    assert cost["policy samples (evaluation)"] == (rounds + 1) * 6
    assert cost["test executions"] == rounds * instructions * n * 1 + (rounds + 1) * 6 * 1
    assert cost["generated tokens"] == rounds * instructions * n * 8 + (rounds + 1) * 6 * 8
    assert cost["training tokens"] == rounds * 2 * 2 * 1 * 96  # max_steps x batch x max_length


def test_cli_dry_run_of_a_run_folder_shows_its_state(reference_run, capsys):
    assert main(["run", str(reference_run), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("done") == len(STAGE_KEYS)
    assert "todo" not in out and "stale" not in out


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, tiny_model_dir, problems_file):
    folder = tmp_path / "run"
    folder.mkdir()
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(PlumError, match="another plum run is using this run folder"):
            run(make_config(tiny_model_dir, problems_file), folder, console=QUIET)


def test_given_tests_must_exist(tmp_path, tiny_model_dir):
    path = tmp_path / "problems.jsonl"
    write_jsonl(path, [{"task_id": "t/0", "prompt": "Write f.", "entry_point": "f"}])
    with pytest.raises(PlumError, match=r"problems.jsonl:1: give exactly one of 'tests'"):
        run(make_config(tiny_model_dir, path), tmp_path / "run", console=QUIET)


def test_python_api_is_lazy_and_mirrors_the_commands():
    import subprocess
    import sys

    code = "import sys, plumcode; assert 'plumcode.loop' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert plumcode.run is run and plumcode.RunConfig is RunConfig
    for name in (
        "synthesize_tests",
        "sample_problems",
        "evaluate_samples",
        "build_preferences",
        "train",
    ):
        assert callable(getattr(plumcode, name))
    assert all(
        getattr(plumcode, name) is not None for name in plumcode.__all__
    )  # every export resolves
    with pytest.raises(AttributeError):
        plumcode.no_such_thing  # noqa: B018


@pytest.mark.slow
def test_isolated_stages_and_a_training_launcher(tmp_path, tiny_model_dir, problems_file):
    import sys

    # No evaluation sets: one isolated sampling stage and one launched training are enough.
    config = make_config(
        tiny_model_dir,
        problems_file,
        evaluation={},
        isolate_stages=True,
        train_launcher=[sys.executable],
    )
    run(config, tmp_path / "run", console=QUIET)
    folder = RunFolder(tmp_path / "run")
    assert done_keys(folder) == [k for k in STAGE_KEYS if "/eval/" not in k]
    assert len(list(read_jsonl(folder.samples(1)))) == 12
    train = json.loads(folder.marker("round_01/train").read_text())["stats"]
    assert train["steps"] == 2 and (folder.train(1) / "model" / "config.json").is_file()

    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    changed = make_config(tiny_model_dir, problems_file, train_launcher=failing, training__beta=0.3)
    with pytest.raises(
        PlumError, match=r"training failed \(exit code 3\): .* -m plumcode train --config"
    ):
        run(changed, folder.root, force=True, console=QUIET)


def test_test_synthesis_stage_is_wired_to_the_test_generator(
    tmp_path, tiny_model_dir, problems_file
):
    """With a test generator the tests stage calls synthesize_tests (here the random tiny model
    writes nothing usable, so the point is the wiring: every instruction logged, stats kept)."""
    config = make_config(
        tiny_model_dir,
        problems_file,
        test_generator={"model": str(tiny_model_dir), "batch_size": 8},
        testgen={"max_new_tokens": 8, "n_tests": 2, "min_tests": 1},
        evaluation={},
        rounds=0,
    )
    summary = run(config, tmp_path / "run", console=QUIET)
    folder = RunFolder(tmp_path / "run")
    stats = json.loads(folder.marker("tests").read_text())["stats"]
    assert stats["problems_in"] == 6
    assert stats["problems_kept"] + sum(stats["problems_dropped"].values()) == 6
    logged = [row["task_id"] for row in read_jsonl(folder.root / "tests.log.jsonl")]
    assert sorted(logged) == sorted(f"{kind}/{i}" for kind in ("easy", "hard") for i in range(3))
    assert summary == {"rounds": []}


def test_releasing_the_policy_closes_a_generator_that_can_close(tmp_path, tiny_model_dir, problems_file, monkeypatch):
    """vLLM's engine runs in processes of its own: the loop stops them (close) before training."""
    events: list[str] = []

    class Engine:
        def close(self) -> None:
            events.append("closed")

    monkeypatch.setattr("plum_data.generation.load_generator", lambda config: Engine())
    loop = RunStages(make_config(tiny_model_dir, problems_file), RunFolder(tmp_path / "run"), QUIET)
    engine = loop.policy(str(tiny_model_dir))
    assert loop.policy(str(tiny_model_dir)) is engine and events == []  # kept between stages
    loop.policy(str(tmp_path / "next-policy"))  # another round's policy replaces it
    loop.release_policy()  # before training, and at the end of a run
    assert events == ["closed", "closed"]

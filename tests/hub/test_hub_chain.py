"""Every stage publishes a Hub dataset that the next stage reads by its Hub id, each stage in a
fresh process with an empty HF cache, against a local Hub (hub_server.py).

The problems are those of tests/loop/test_loop_run.py: each ``setup`` defines ``f`` returning 1
and what the tiny model writes never survives extraction, so ``easy/*`` pass and ``hard/*``
fail whatever it samples: KTO gets both labels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from plum_exec.datasets_io import decode_row
from plum_exec.jsonl import read_jsonl, write_jsonl

pytestmark = pytest.mark.slow


def problem(task_id: str, expected: int) -> dict[str, Any]:
    return {"task_id": task_id, "prompt": f"Write a function f() that returns {expected}.", "entry_point": "f",
            "setup": "def f():\n    return 1\n", "tests": [f"assert f() == {expected}"]}  # fmt: skip


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    path = tmp_path / "P.jsonl"
    write_jsonl(path, [problem(f"easy/{i}", 1) for i in range(2)] + [problem(f"hard/{i}", 2) for i in range(2)])
    return path


# Each stage by the umbrella's command and by its own package's command.
COMMANDS = {
    "umbrella": {"sample": ["plum", "sample"], "evaluate": ["plum", "evaluate-samples"],
                 "prefs": ["plum", "prefs"], "train": ["plum", "train"]},
    "packages": {"sample": ["plum-data", "sample"], "evaluate": ["plum-exec", "evaluate-samples"],
                 "prefs": ["plum-data", "prefs"], "train": ["plum-train", "train"]},
}  # fmt: skip
TRAIN_FLAGS = ["--max-steps", "2", "--per-device-train-batch-size", "2", "--max-length", "96", "--save-steps", "1",
               "--warmup-steps", "0", "--learning-rate", "1e-2"]


@pytest.mark.parametrize("flavour", list(COMMANDS))
def test_each_stage_reads_the_previous_stages_hub_dataset(runner, problems_file, tiny_model_dir, flavour):
    cmd = COMMANDS[flavour]
    ns = f"ns/{flavour}"
    sample = runner.run([*cmd["sample"], "--problems", problems_file, "--model", tiny_model_dir, "--n", "4",
                         "--max-new-tokens", "8", "--out", "s", "--push-to-hub", f"{ns}-s"])  # fmt: skip
    assert f"pushed {ns}-s" in sample.stdout
    runner.run([*cmd["evaluate"], "--problems", problems_file, "--samples", f"{ns}-s", "--out", "r",
                "--workers", "2", "--push-to-hub", f"{ns}-r"])  # fmt: skip
    runner.run([*cmd["prefs"], "--problems", problems_file, "--samples", f"{ns}-s", "--results", f"{ns}-r",
                "--model", tiny_model_dir, "--out", "p", "--push-to-hub", f"{ns}-p"])  # fmt: skip
    train = runner.run([*cmd["train"], "--data", f"{ns}-p", "--method", "kto", "--model", tiny_model_dir,
                        *TRAIN_FLAGS, "--out", "t"])  # fmt: skip
    assert "trained model" in train.stdout

    root = runner.root
    # What each stage read from the Hub is what the previous one wrote locally.
    assert plain(runner.load_rows(f"{ns}-s")) == plain(read_jsonl(root / "s" / "samples.jsonl"))
    assert plain(runner.load_rows(f"{ns}-r")) == plain(read_jsonl(root / "r" / "results.jsonl"))
    kto = list(read_jsonl(root / "p" / "kto.jsonl"))
    assert {row["label"] for row in kto} == {True, False}
    assert runner.load_rows(f"{ns}-p", "kto") == kto
    # The training recorded the commit of the preference data it read.
    record = json.loads((root / "t" / "train_config.json").read_text())
    prefs_sha = runner.hub.state.repos[("datasets", f"{ns}-p")].branches["main"]
    assert record["data"] == {"hub_id": f"{ns}-p", "revision": "main", "sha": prefs_sha, "config": "kto",
                              "split": "train"}  # fmt: skip
    # The results card pins the samples by the commit that was read.
    card = (root / "r" / "README.md").read_text()
    samples_sha = runner.hub.state.repos[("datasets", f"{ns}-s")].branches["main"]
    assert f'"sha": "{samples_sha}"' in card and f'"hub_id": "{ns}-s"' in card
    # ... and names the sandbox level the run had, with its mechanisms.
    assert re.search(r'"isolation_used": "(namespace \(bubblewrap\)|process[^"]* \+ seccomp)', card), card


def write_prefs_inputs(root: Path) -> list[Path]:
    """problems, samples and results where problem ``mixed`` has passing and failing samples (DPO pairs)."""
    verdicts = {"mixed": ["pass", "fail", "pass", "fail"], "solved": ["pass", "pass"]}
    problems, samples, results = [], [], []
    for task_id, statuses in verdicts.items():
        problems.append({"task_id": task_id, "prompt": f"Write f for {task_id}.", "tests": ["assert f() == 1"]})
        for sample_id, status in enumerate(statuses):
            program = f"def f():\n    return {sample_id}\n"
            samples.append({"task_id": task_id, "sample_id": sample_id, "solution": program,
                            "response": f"```python\n{program}```", "metadata": {}})  # fmt: skip
            results.append({"task_id": task_id, "sample_id": sample_id, "base_status": status,
                            "base_outcomes": [{"status": status, "duration": 0.0, "message": ""}]})  # fmt: skip
    paths = [root / "problems.jsonl", root / "samples.jsonl", root / "results.jsonl"]
    for path, rows in zip(paths, (problems, samples, results), strict=True):
        write_jsonl(path, rows)
    return paths


def test_prefs_publishes_kto_rows_and_dpo_pairs_as_two_configs(runner, tiny_model_dir):
    problems, samples, results = write_prefs_inputs(runner.root)
    runner.run(["plum", "prefs", "--problems", problems, "--samples", samples, "--results", results,
                "--model", tiny_model_dir, "--out", "p", "--push-to-hub", "ns/prefs"])  # fmt: skip
    kto, dpo = list(read_jsonl(runner.root / "p" / "kto.jsonl")), list(read_jsonl(runner.root / "p" / "dpo.jsonl"))
    assert len(dpo) == 4 and isinstance(dpo[0]["chosen"], list)  # conversational: the model has a chat template
    assert runner.load_rows("ns/prefs", "kto") == kto
    assert runner.load_rows("ns/prefs", "dpo") == dpo
    assert "stats.json" in runner.repo_files("ns/prefs")
    card = (runner.root / "p" / "README.md").read_text()
    assert "TRL dataset format: **conversational**, type: **unpaired preference**" in card
    assert "- config_name: kto" in card and "- config_name: dpo" in card
    # DPO trains on its own config of the same repo (picked by --method), offline from the folder too.
    runner.run(["plum", "train", "--data", "p", "--method", "dpo", "--model", tiny_model_dir,
                *TRAIN_FLAGS, "--out", "t"], HF_HUB_OFFLINE="1", HF_TOKEN=None)  # fmt: skip
    assert json.loads((runner.root / "t" / "train_config.json").read_text())["data"]["config"] == "dpo"


SHARDED_PUSH = """
import json, sys
from pathlib import Path
import plum_exec.datasets_io as io
from plum_exec import hub, publish
from plum_exec.results_dataset import results_card
io.SHARD_BYTES = 64  # an earlier, larger run: several shards
rows = [json.loads(line) for line in open("r/results.jsonl")] * 3
publish.finish_stage(Path("r"), results_card(rows, {}, {}), hub.PushTarget("ns/results"))
print(json.dumps(sorted(p.name for p in Path("r/data/default").iterdir())))
"""


def test_resume_then_push_leaves_one_set_of_shards(runner, tmp_path):
    problems, samples, _ = write_prefs_inputs(tmp_path)
    evaluate = ["plum", "evaluate-samples", "--problems", problems, "--samples", samples, "--out", "r",
                "--workers", "2", "--push-to-hub", "ns/results"]  # fmt: skip
    runner.run(evaluate)
    assert len(runner.python(SHARDED_PUSH)) > 1
    assert len([f for f in runner.repo_files("ns/results") if f.startswith("data/")]) > 1
    # An interrupted rerun: the log lost its last rows; the rerun redoes them and pushes again.
    log = runner.root / "r" / "results.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:3]))
    runner.run(evaluate)
    shards = [f for f in runner.repo_files("ns/results") if f.startswith("data/")]
    assert shards == ["data/default/train-00000-of-00001.parquet"]
    assert [p.name for p in (runner.root / "r" / "data" / "default").iterdir()] == [Path(shards[0]).name]
    assert plain(runner.load_rows("ns/results")) == plain(read_jsonl(log))
    assert len(list(read_jsonl(log))) == 6


def plain(rows: Any) -> list[dict[str, Any]]:
    """Rows as plum's readers see them (``_json`` columns decoded, nulls dropped), in a fixed order."""
    return sorted((decode_row(row) for row in rows), key=lambda row: (row["task_id"], row["sample_id"]))


def test_wrong_token_fails_in_one_line_before_any_work(runner, tiny_model_dir):
    problems, samples, results = write_prefs_inputs(runner.root)
    result = runner.run(["plum", "prefs", "--problems", problems, "--samples", samples, "--results", results,
                         "--out", "p", "--push-to-hub", "ns/prefs"], check=False, HF_TOKEN="hf_wrongwrongwrongwrong")  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["plum: error: --push-to-hub ns/prefs: the Hub rejected the token (HTTP 401); check HF_TOKEN "
                     "or `hf auth login`"]  # fmt: skip
    assert not (runner.root / "p").exists()  # checked before the stage ran
    assert "hf_wrong" not in result.stderr.replace("hf_wrongwrong", "")  # no token echoed beyond the flag value
    missing = runner.run(["plum", "prefs", "--problems", problems, "--samples", samples, "--results", results,
                          "--out", "p", "--push-to-hub", "ns/prefs"], check=False, HF_TOKEN=None)  # fmt: skip
    assert missing.stderr.strip() == "plum: error: --push-to-hub needs a Hugging Face token: set HF_TOKEN or run `hf auth login`"
    other = runner.run(["plum", "prefs", "--problems", problems, "--samples", samples, "--results", results,
                        "--out", "p", "--push-to-hub", "someone-else/prefs"], check=False)  # fmt: skip
    assert "cannot write to namespace 'someone-else'" in other.stderr and len(other.stderr.strip().splitlines()) == 1


def test_failed_upload_keeps_the_folder_and_prints_the_retry_command(runner, hub):
    problems, samples, results = write_prefs_inputs(runner.root)
    command = ["plum", "prefs", "--problems", problems, "--samples", samples, "--results", results,
               "--format", "standard", "--out", "p", "--push-to-hub", "ns/retry"]  # fmt: skip
    hub.state.fail_commits = True
    try:
        failed = runner.run(command, check=False)
    finally:
        hub.state.fail_commits = False
    assert failed.returncode == 2
    error = failed.stderr.strip().splitlines()[-1]
    assert error.startswith("plum: error: push to ns/retry failed (")
    assert error.endswith("p is intact; retry: plum push p ns/retry")
    assert {"README.md", "kto.jsonl", "dpo.jsonl", "stats.json", "data"} <= {p.name for p in (runner.root / "p").iterdir()}
    runner.run(["plum", "push", "p", "ns/retry"])
    assert runner.load_rows("ns/retry", "kto") == list(read_jsonl(runner.root / "p" / "kto.jsonl"))


def test_inputs_pin_a_revision_and_unknown_ones_fail_in_one_line(runner, tmp_path):
    problems, samples, _ = write_prefs_inputs(tmp_path)
    runner.run(["plum", "push", *_folder_of(runner, samples, "first"), "ns/samples"])
    first = runner.hub.state.repos[("datasets", "ns/samples")].branches["main"]
    runner.run(["plum", "push", *_folder_of(runner, samples, "second", keep=2), "ns/samples"])
    evaluate = ["plum", "evaluate-samples", "--problems", problems, "--workers", "2"]
    runner.run([*evaluate, "--samples", f"ns/samples@{first}", "--out", "r1"])
    assert len(list(read_jsonl(runner.root / "r1" / "results.jsonl"))) == 6  # the first push: all six samples
    runner.run([*evaluate, "--samples", "ns/samples", "--out", "r2"])
    assert len(list(read_jsonl(runner.root / "r2" / "results.jsonl"))) == 2  # main: the second push
    for spec, message in [("ns/nope", "dataset ns/nope: no such repo on the Hub"),
                          ("ns/samples@v9", "dataset ns/samples@v9: no such revision on the Hub")]:  # fmt: skip
        failed = runner.run([*evaluate, "--samples", spec, "--out", "r3"], check=False)
        assert failed.returncode == 2 and failed.stderr.strip().startswith(f"plum: error: {message}")
        assert len(failed.stderr.strip().splitlines()) == 1


def _folder_of(runner, samples: Path, name: str, keep: int | None = None) -> list[str]:
    """A samples dataset folder made from the first ``keep`` rows of ``samples``."""
    runner.python(
        "import json; from pathlib import Path; from plum_exec.publish import finish_stage; "
        "from plum_exec.records import Sample; from plum_data.sampling import samples_card; "
        f"rows = [json.loads(l) for l in open({str(samples)!r})][:{keep!r}]; "
        f"finish_stage(Path({name!r}), samples_card([Sample(**r) for r in rows], {{}}), None); print('null')"
    )
    return [name]


def test_testgen_publishes_problems_and_the_drop_log(runner, tiny_model_dir):
    mbpp = runner.root / "mbpp.jsonl"
    write_jsonl(mbpp, [{"task_id": n, "text": text, "code": "", "test_list": []}
                       for n, text in [(601, "Write a function to add two numbers."),
                                       (602, "Write a function to reverse a string.")]])  # fmt: skip
    runner.run(["plum", "testgen", "--mbpp", mbpp, "--split", "train", "--generator-model", tiny_model_dir,
                "--backend", "transformers", "--max-new-tokens", "12", "--n-tests", "2", "--workers", "1",
                "--out", "tests.jsonl", "--push-to-hub", "ns/tests"])  # fmt: skip
    log = list(read_jsonl(runner.root / "tests.log.jsonl"))
    assert [row["task_id"] for row in plain_by_task(runner.load_rows("ns/tests", "log"))] == ["Mbpp/601", "Mbpp/602"]
    assert plain_by_task(runner.load_rows("ns/tests", "log")) == plain_by_task(log)
    card = (runner.root / "tests" / "README.md").read_text()
    assert "## Statistics" in card and "problems_dropped" in card and '"stage": "testgen"' in card


def plain_by_task(rows: Any) -> list[dict[str, Any]]:
    return sorted((decode_row(row) for row in rows), key=lambda row: row["task_id"])

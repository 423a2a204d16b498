"""Publishing paths against the local Hub: branches and private repos, a branch moving while a
stage reads it, tags, token roles, the Hub's metadata rules, unchanged shards, configs that
became empty, and the card's one default config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hub_server
import pytest

from plum_exec.cards import StageCard, merge, render, size_category, split_card
from plum_exec.datasets_io import ConfigData
from plum_exec.publish import finish_stage

COLUMNS = {"task_id": "the task", "n": "a number"}


def stage_folder(path: Path, configs: dict[str, list[dict[str, Any]]], stage: str = "prefs") -> Path:
    """A stage's dataset folder (card + shards) with these configs' rows."""
    card = StageCard(stage, "t", "s", [ConfigData(name, rows, COLUMNS) for name, rows in configs.items()])
    finish_stage(path, card, None)
    return path


def rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"task_id": f"t/{i}", "n": i} for i in range(start, start + count)]


def files(hub: hub_server.HubServer, repo_id: str, revision: str = "main") -> list[str]:
    return sorted(hub.state.repos[("datasets", repo_id)].commit(revision).files)


def test_a_branch_push_leaves_main_alone_and_a_private_repo_hides_from_anonymous_readers(runner, hub):
    stage_folder(runner.root / "f", {"default": rows(3)}, stage="sample")
    runner.run(["plum", "push", "f", "ns/branchy", "--hub-branch", "dev", "--private"])
    repo = hub.state.repos[("datasets", "ns/branchy")]
    assert repo.private
    assert files(hub, "ns/branchy") == [".gitattributes"]  # main: the repo's first commit only
    assert {"README.md", "data/default/train-00000-of-00001.parquet"} <= set(files(hub, "ns/branchy", "dev"))
    assert runner.load_rows("ns/branchy", revision="dev") == rows(3)
    with pytest.raises(AssertionError, match="DatasetNotFoundError"):
        runner.python("from datasets import load_dataset; load_dataset('ns/branchy', split='train', revision='dev')",
                       HF_TOKEN=None)  # fmt: skip
    # A second push to the branch merges into the branch's card, not main's.
    stage_folder(runner.root / "g", {"default": rows(2)}, stage="sample")
    runner.run(["plum", "push", "g", "ns/branchy", "--hub-branch", "dev", "--private"])
    assert files(hub, "ns/branchy") == [".gitattributes"]
    assert runner.load_rows("ns/branchy", revision="dev") == rows(2)


READ_WHILE_THE_BRANCH_MOVES = """
import json
from huggingface_hub import HfApi
from plum_exec.datasets_io import iter_rows, resolve
from plum_exec.hub import PushTarget, push_folder
first = resolve("ns/race")
HfApi().create_tag("ns/race", tag="v1", repo_type="dataset", revision=first.sha)
push_folder("second", PushTarget("ns/race"), stage="prefs")  # main moves on after it was resolved
tagged = resolve("ns/race@v1")
print(json.dumps({"sha": first.sha, "again": resolve("ns/race").sha, "rows": [r for _, r in iter_rows("ns/race")],
                  "tagged": tagged.provenance(), "tagged_rows": [r for _, r in iter_rows("ns/race@v1")]}))
"""


def test_a_branch_that_moves_after_it_was_resolved_is_read_at_the_resolved_commit(runner, hub):
    """The rows read and the sha a card records are one commit, even when the branch moves in
    between; a tag pins a commit like a sha."""
    stage_folder(runner.root / "first", {"kto": rows(3)})
    stage_folder(runner.root / "second", {"kto": rows(1, start=10)})
    runner.run(["plum", "push", "first", "ns/race"])
    first_sha = hub.state.repos[("datasets", "ns/race")].branches["main"]
    seen = runner.python(READ_WHILE_THE_BRANCH_MOVES)
    assert hub.state.repos[("datasets", "ns/race")].branches["main"] != first_sha  # it did move
    assert seen["sha"] == seen["again"] == first_sha
    assert seen["rows"] == rows(3)
    assert seen["tagged"] == {"hub_id": "ns/race", "revision": "v1", "sha": first_sha, "config": None, "split": "train"}
    assert seen["tagged_rows"] == rows(3)
    assert runner.load_rows("ns/race") == rows(1, start=10)  # a fresh reader sees the new head


@pytest.fixture
def token_role(hub):
    """Set the token's role for one test (``hub.state.role``, ``fine_grained``), restored after."""
    def set_role(role: str, scoped: list[dict[str, Any]] | None = None) -> None:
        hub.state.role, hub.state.fine_grained = role, scoped or []

    yield set_role
    set_role("write")


def scope(kind: str, name: str, *permissions: str) -> dict[str, Any]:
    return {"entity": {"type": kind, "name": name}, "permissions": list(permissions)}


@pytest.mark.parametrize(
    ("role", "scoped", "reason"),
    [
        ("read", None, "a read-only token"),
        ("fineGrained", [scope("user", "ns", "repo.content.read")], "a fine-grained token without repo.write on ns"),
        ("fineGrained", [scope("dataset", "ns/other", "repo.write")], "a fine-grained token without repo.write on ns"),
    ],
)
def test_a_token_that_cannot_write_stops_the_stage_before_it_starts(runner, token_role, role, scoped, reason):
    token_role(role, scoped)
    (runner.root / "p.jsonl").write_text('{"task_id": "t", "prompt": "def f():\\n", "tests": ["assert f() == 1"]}\n')
    (runner.root / "s.jsonl").write_text('{"task_id": "t", "solution": "def f():\\n    return 1\\n"}\n')
    result = runner.run(["plum", "evaluate-samples", "--problems", "p.jsonl", "--samples", "s.jsonl",
                         "--out", "r", "--push-to-hub", "ns/tokens"], check=False)  # fmt: skip
    assert result.returncode == 2 and not (runner.root / "r").exists()  # nothing ran
    assert result.stderr.strip().splitlines() == [
        f"plum: error: --push-to-hub ns/tokens: this token is {reason} (whoami: role {role}); "
        "make a token with write access to it"]  # fmt: skip
    # ... and the Hub would have refused the push: the check says what the push would meet.
    stage_folder(runner.root / "f", {"default": rows(1)}, stage="sample")
    refused = runner.python("import json; from plum_exec.hub import PushTarget, push_folder; from plum_exec.errors import PlumError\n"
                            "try:\n    push_folder('f', PushTarget('ns/tokens'), stage='sample')\n"
                            "except PlumError as exc:\n    print(json.dumps(str(exc)))")  # fmt: skip
    assert "403 Forbidden" in refused


@pytest.mark.parametrize("scoped", [[scope("user", "ns", "repo.write")], [scope("dataset", "ns/fine", "repo.write")]])
def test_a_fine_grained_token_with_write_access_pushes(runner, hub, token_role, scoped):
    token_role("fineGrained", scoped)
    stage_folder(runner.root / "f", {"default": rows(2)}, stage="sample")
    runner.run(["plum", "push", "f", "ns/fine"])
    assert runner.load_rows("ns/fine") == rows(2)


def test_size_categories_are_the_hubs_values() -> None:
    sizes = [size_category(n) for n in (0, 999, 1_000, 10**7 - 1, 10**7, 2 * 10**7, 10**9, 10**12)]
    assert set(sizes) <= set(hub_server.SIZE_CATEGORIES)
    assert sizes[4:] == ["10M<n<100M", "10M<n<100M", "1B<n<10B", "n>1T"]


@pytest.mark.parametrize(
    ("card", "error"),
    [
        ("size_categories:\n- n>10M\n", "size_categories"),
        ("tags:\n- 3\n", "tags"),
        ("configs:\n- config_name: a\n  default: true\n- config_name: b\n  default: true\n", "only one config"),
        ("configs:\n- config_name: a\n- config_name: a\n", "each name once"),
    ],
)
def test_the_local_hub_refuses_metadata_the_hub_refuses(runner, card, error):
    (runner.root / "f").mkdir()
    (runner.root / "f" / "README.md").write_text(f"---\n{card}---\n\ntext\n")
    result = runner.run(["plum", "push", "f", "ns/meta"], check=False)
    assert result.returncode == 2 and "Invalid metadata in README.md" in result.stderr and error in result.stderr


def test_an_unchanged_shard_is_not_uploaded_again(runner, hub):
    kto, dpo = rows(5, start=500), rows(2, start=600)  # rows no other test uploads (LFS objects are shared)
    stage_folder(runner.root / "f", {"kto": kto, "dpo": dpo})
    runner.run(["plum", "push", "f", "ns/same"])
    commits = len(hub.state.repos[("datasets", "ns/same")].commits)
    requests = len(hub.state.requests)
    stage_folder(runner.root / "g", {"kto": kto, "dpo": dpo[:1]})  # kto unchanged
    runner.run(["plum", "push", "g", "ns/same"])
    repo = hub.state.repos[("datasets", "ns/same")]
    assert len(repo.commits) == commits + 1
    assert sorted(repo.commit("main").sent) == ["README.md", "data/dpo/train-00000-of-00001.parquet"]  # not kto's
    dpo_shard = runner.root / "g" / "data" / "dpo" / "train-00000-of-00001.parquet"
    assert [r for r in hub.state.requests[requests:] if r.startswith("PUT")] == [f"PUT /lfs-upload/{_sha256(dpo_shard)}"]
    assert runner.load_rows("ns/same", "kto") == kto and runner.load_rows("ns/same", "dpo") == dpo[:1]
    again = runner.run(["plum", "push", "g", "ns/same"])  # nothing changed at all
    assert f"commit {hub.state.repos[('datasets', 'ns/same')].branches['main']}" in again.stdout


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_config_that_became_empty_leaves_no_shards_and_no_config(runner, hub):
    stage_folder(runner.root / "f", {"kto": rows(4), "dpo": rows(2)})
    runner.run(["plum", "push", "f", "ns/empty"])
    assert any(f.startswith("data/dpo/") for f in files(hub, "ns/empty"))
    stage_folder(runner.root / "g", {"kto": rows(3), "dpo": []})  # this run made no DPO pairs
    runner.run(["plum", "push", "g", "ns/empty"])
    assert [f for f in files(hub, "ns/empty") if f.startswith("data/")] == ["data/kto/train-00000-of-00001.parquet"]
    meta, _ = split_card(hub.state.repos[("datasets", "ns/empty")].commit("main").files["README.md"].decode())
    assert [c["config_name"] for c in meta["configs"]] == ["kto"]
    assert runner.load_rows("ns/empty", "kto") == rows(3)


def _defaults(card: str) -> list[str]:
    return [c["config_name"] for c in split_card(card)[0].get("configs", []) if c.get("default")]


def test_merged_cards_keep_one_default_config() -> None:
    """Whatever stages push into one repo, in any order, the card has one default config (the
    Hub refuses two) as soon as it has several."""
    cards = {
        "prefs2": (StageCard("prefs", "t", "s", [ConfigData("kto", rows(1), COLUMNS), ConfigData("dpo", rows(1), COLUMNS)]), "prefs"),
        "prefs1": (StageCard("prefs", "t", "s", [ConfigData("kto", rows(1), COLUMNS), ConfigData("dpo", [], COLUMNS)]), "prefs"),
        "testgen": (StageCard("testgen", "t", "s", [ConfigData("problems", rows(1), COLUMNS), ConfigData("log", rows(1), COLUMNS)]), "testgen"),
        "sample": (StageCard("sample", "t", "s", [ConfigData("samples", rows(1), COLUMNS)]), "sample"),
    }  # fmt: skip
    for order in (["prefs2", "testgen", "prefs1", "sample"], ["sample", "prefs1", "prefs2", "testgen"],
                  ["testgen", "prefs2", "sample", "prefs1", "prefs2"]):  # fmt: skip
        card: str | None = None
        for name in order:
            stage_card, stage = cards[name]
            card = merge(card, render(stage_card), stage)
            configs = split_card(card)[0]["configs"]
            assert len(_defaults(card)) == (1 if len(configs) > 1 else 0), (order, name, configs)
    assert hub_server.metadata_errors(json.loads(json.dumps(split_card(card)[0])), "dataset") == []

"""Dataset specs, the Hub layout of stage outputs, cards (merge, secrets): no server needed."""

from __future__ import annotations

import sys

import pytest

from plum_exec.cards import StageCard, command_line, merge, redact, render, split_card
from plum_exec.datasets_io import ConfigData, iter_rows, resolve, to_arrow, write_dataset_folder
from plum_exec.errors import PlumError
from plum_exec.jsonl import write_jsonl
from plum_exec.problems import load_problems_jsonl

# io tests whose inputs have no single Arrow type (int, list, str, dict), and a dict column whose
# keys vary by row: both must come back exactly as written.
ROWS = [
    {"task_id": "a", "inputs": [[1, 2], "x"], "meta": {"k": 1}, "score": 1},
    {"task_id": "b", "inputs": [{"n": None}], "meta": {"other": "v"}, "score": 2},
]


def card_for(configs: list[ConfigData], stage: str = "sample", **extra) -> StageCard:
    return StageCard(stage=stage, title="t", summary="s", configs=configs, **extra)


def test_rows_round_trip_through_a_dataset_folder(tmp_path):
    folder = write_dataset_folder(tmp_path / "d", [ConfigData("default", ROWS, {})], render(card_for([ConfigData("default", ROWS, {})])))
    assert set(to_arrow(ROWS).column_names) == {"task_id", "inputs_json", "meta_json", "score"}
    assert [row for _, row in iter_rows(str(folder))] == ROWS
    import datasets

    loaded = datasets.load_dataset(str(folder), split="train")  # as any datasets user would
    assert loaded.column_names == ["task_id", "inputs_json", "meta_json", "score"]


def test_problems_load_from_a_dataset_folder_like_from_jsonl(tmp_path):
    rows = [{"task_id": "t/0", "prompt": "p", "entry_point": "f", "tests": ["assert f() == 1"]},
            {"task_id": "t/1", "prompt": "q", "test": "def check(candidate):\n    assert candidate() == 2\n",
             "entry_point": "f"}]  # fmt: skip
    write_jsonl(tmp_path / "p.jsonl", rows)
    configs = [ConfigData("problems", rows, {})]
    write_dataset_folder(tmp_path / "p", configs, render(card_for(configs, "testgen")))
    assert load_problems_jsonl(tmp_path / "p") == load_problems_jsonl(tmp_path / "p.jsonl")


def test_folders_of_the_same_name_are_read_by_content_not_from_a_cache(tmp_path):
    """datasets caches a local folder by its name and card: every round's ``prefs/`` would read round 1's rows."""
    for round_, rows in enumerate((ROWS, ROWS[:1]), start=1):
        configs = [ConfigData("default", rows, {})]
        folder = write_dataset_folder(tmp_path / f"round_{round_}" / "prefs", configs, render(card_for(configs)))
        assert [row for _, row in iter_rows(str(folder))] == rows


def test_rewriting_a_folder_leaves_one_set_of_shards(tmp_path):
    import plum_exec.datasets_io as io

    configs = [ConfigData("default", ROWS * 50, {})]
    old = io.SHARD_BYTES
    io.SHARD_BYTES = 200
    try:
        write_dataset_folder(tmp_path, configs, render(card_for(configs)))
    finally:
        io.SHARD_BYTES = old
    assert len(list((tmp_path / "data" / "default").iterdir())) > 1
    write_dataset_folder(tmp_path, configs[:1], render(card_for(configs)))
    assert [p.name for p in (tmp_path / "data" / "default").iterdir()] == ["train-00000-of-00001.parquet"]
    assert len([row for _, row in iter_rows(str(tmp_path))]) == 100


def test_a_local_path_wins_over_a_hub_id_and_specs_carry_config_and_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    configs = [ConfigData("kto", ROWS, {}), ConfigData("dpo", ROWS[:1], {})]
    write_dataset_folder(tmp_path / "ns" / "p", configs, render(card_for(configs, "prefs")))
    assert resolve("ns/p").kind == "folder"
    assert resolve("ns/p", default_config="dpo").config == "dpo"
    assert resolve("ns/p:kto").config == "kto"
    assert len(list(iter_rows("ns/p:dpo"))) == 1
    assert len(list(iter_rows("ns/p", default_config="kto"))) == 2
    with pytest.raises(PlumError, match=r"^ns/p@v1: a revision \(@v1\) needs a Hub dataset"):
        resolve("ns/p@v1")
    with pytest.raises(PlumError, match=r"^missing\.jsonl: no such file or folder"):
        resolve("missing.jsonl")
    with pytest.raises(PlumError, match=r"^\./ns/q: no such file or folder"):
        resolve("./ns/q")


def test_a_preference_dataset_without_the_methods_config_is_an_error(tmp_path):
    configs = [ConfigData("kto", ROWS, {}), ConfigData("dpo", [], {})]
    write_dataset_folder(tmp_path / "p", configs, render(card_for(configs, "prefs")))
    with pytest.raises(PlumError, match="has no config 'dpo' \\(it has kto\\)"):
        resolve(str(tmp_path / "p"), default_config="dpo")


def test_card_header_and_sections(tmp_path):
    configs = [ConfigData("kto", ROWS, {"task_id": "id"}), ConfigData("dpo", [], {})]
    provenance = {"inputs": {"samples": {"hub_id": "ns/s", "sha": "abc"}, "problems": {"path": "p", "sha256": "f"}}}
    text = render(card_for(configs, "prefs", provenance=provenance, trl={"kto": ("standard", "unpaired preference")}))
    meta, body = split_card(text)
    assert meta["tags"][:2] == ["plum", "prefs"] and meta["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in meta["configs"]] == ["kto"]  # an empty config has no shards to name
    assert meta["source_datasets"] == ["ns/s"]
    assert 'load_dataset("ORG/NAME", "kto", split="train")' in body
    assert "TRL dataset format: **standard**, type: **unpaired preference**" in body
    assert body.startswith("<!-- plum:prefs configs=kto,dpo -->")


def test_merging_keeps_other_configs_and_text_and_replaces_our_section():
    ours_v1 = render(card_for([ConfigData("kto", ROWS, {}), ConfigData("dpo", ROWS, {})], "prefs"))
    theirs = ("---\nlicense: mit\ntags: [mine]\nconfigs:\n- config_name: extra\n  data_files: extra/*.parquet\n"
              "- config_name: dpo\n  data_files: old/*.parquet\n---\n# My dataset\n\nWritten by a person.\n")  # fmt: skip
    merged = merge(theirs, ours_v1, "prefs")
    meta, body = split_card(merged)
    assert [c["config_name"] for c in meta["configs"]] == ["extra", "kto", "dpo"]
    assert meta["tags"][0] == "mine" and "plum" in meta["tags"]
    assert body.startswith("# My dataset\n\nWritten by a person.") and "<!-- plum:prefs" in body
    # Pushing again (now with no DPO pairs): our section is replaced, the DPO config is gone, theirs stays.
    ours_v2 = render(card_for([ConfigData("kto", ROWS[:1], {}), ConfigData("dpo", [], {})], "prefs"))
    meta2, body2 = split_card(merge(merged, ours_v2, "prefs"))
    assert [c["config_name"] for c in meta2["configs"]] == ["extra", "kto"]
    assert body2.count("<!-- plum:prefs") == 1 and "(1 rows" in body2 and "Written by a person." in body2


def test_cards_and_commands_carry_no_secrets(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", "s3cr3t-value-42")
    text = ("key s3cr3t-value-42, hf_abcdefghijklmnopqrstuvwx, sk-proj-abcdefghijklmnop1234, "
            "https://user:hunter2@example.com/v1 --hub-token tok123 --api-key=zzz")  # fmt: skip
    clean = redact(text)
    for secret in ("s3cr3t-value-42", "hf_abcdefghijklmnopqrstuvwx", "sk-proj-abcdefghijklmnop1234", "hunter2",
                   "tok123", "zzz"):  # fmt: skip
        assert secret not in clean
    assert "https://***@example.com/v1" in clean
    monkeypatch.setattr(sys, "argv", ["/usr/bin/plum", "sample", "--base-url", "http://u:pw@h/v1", "--out", "s"])
    assert command_line() == "plum sample --base-url http://***@h/v1 --out s"
    card = render(card_for([ConfigData("default", [{"response": "uses s3cr3t-value-42"}], {})],
                           provenance={"command": "x --token hf_abcdefghijklmnopqrstuvwx"}))  # fmt: skip
    assert "s3cr3t" not in card and "hf_abcdefghijklmnopqrstuvwx" not in card


def test_published_rows_carry_no_secret_values(tmp_path, monkeypatch):
    from plum_exec.publish import finish_stage

    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-0123456789abcdef")
    rows = [{"task_id": "t", "response": "print('sk-live-0123456789abcdef')"}]
    finish_stage(tmp_path / "d", card_for([ConfigData("default", rows, {})]), None)
    assert [row for _, row in iter_rows(str(tmp_path / "d"))] == [{"task_id": "t", "response": "print('***')"}]
    assert not any("sk-live" in p.read_bytes().decode("latin-1") for p in (tmp_path / "d").rglob("*") if p.is_file())


def test_a_folder_plum_did_not_write_is_never_replaced(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    (tmp_path / "README.md").write_text("# my project\n")
    configs = [ConfigData("default", ROWS, {})]
    with pytest.raises(PlumError, match="holds a README.md that plum did not write"):
        write_dataset_folder(tmp_path, configs, render(card_for(configs)))
    (tmp_path / "README.md").unlink()
    with pytest.raises(PlumError, match="holds a data/ folder that plum did not write"):
        write_dataset_folder(tmp_path, configs, render(card_for(configs)))
    assert (tmp_path / "data" / "notes.txt").read_text() == "mine"

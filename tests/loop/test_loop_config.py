"""RunConfig from YAML: sections, types, defaults, overrides, and one-line errors naming file:line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from plum_exec.errors import PlumError
from plumcode.cli import main
from plumcode.loop import RunConfig, config_to_dict, load_run_config, run_config_from_dict

MINIMAL = """\
policy:
  model: some/model
instructions:
  problems: problems.jsonl
rounds: 2
seed: 7
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(PlumError) as info:
        load_run_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_minimal_config_fills_every_section_with_defaults(tmp_path):
    config = load_run_config(write(tmp_path, MINIMAL))
    assert isinstance(config, RunConfig)
    assert config.policy.model == "some/model"
    assert config.rounds == 2
    assert config.test_generator is None
    assert config.sampling.n == 8 and config.evaluation.sampling.temperature == 0.0
    assert config.training.method == "kto"


def test_top_level_seed_fills_unset_section_seeds_only(tmp_path):
    config = load_run_config(write(tmp_path, MINIMAL + "prefs:\n  seed: 3\n"))
    assert config.prefs.seed == 3
    assert config.training.seed == 7
    assert config.testgen.seed == 7
    assert config.sampling.seed == 7


def test_unknown_nested_key_names_file_line_and_key(tmp_path):
    message = error_of(tmp_path, MINIMAL + "training:\n  method: kto\n  lr: 0.1\n")
    assert message.startswith(f"{tmp_path / 'run.yaml'}:9: training.lr: unknown key")
    assert "learning_rate" in message  # the known keys are listed


def test_unknown_top_level_section(tmp_path):
    message = error_of(tmp_path, MINIMAL + "trainer:\n  beta: 0.1\n")
    assert ":7: trainer: unknown key" in message


def test_wrong_type_names_key_and_value(tmp_path):
    message = error_of(tmp_path, MINIMAL + "training:\n  learning_rate: fast\n")
    assert ":8: training.learning_rate: expected float, got str 'fast'" in message


def test_bool_is_not_an_int(tmp_path):
    message = error_of(tmp_path, MINIMAL + "sampling:\n  n: true\n")
    assert "sampling.n: expected int, got bool" in message


def test_exponent_without_dot_is_read_as_float(tmp_path):
    # YAML 1.1 reads 1e-5 as a string; a float field takes it anyway.
    config = load_run_config(write(tmp_path, MINIMAL + "training:\n  learning_rate: 1e-5\n"))
    assert config.training.learning_rate == pytest.approx(1e-5)


def test_literal_choices_are_checked(tmp_path):
    message = error_of(tmp_path, MINIMAL + "training:\n  method: ppo\n")
    assert "training.method: must be one of kto, dpo, sft, grpo, got 'ppo'" in message


def test_list_and_nested_section_types(tmp_path):
    text = MINIMAL + "evaluation:\n  benchmarks: humaneval\n"
    assert "evaluation.benchmarks: expected a list" in error_of(tmp_path, text)
    text = MINIMAL + "evaluation:\n  splits: {seen: 3}\n"
    assert "evaluation.splits.seen: expected str, got int" in error_of(tmp_path, text)
    text = MINIMAL + "evaluation:\n  sampling:\n    max_new_tokens: lots\n"
    assert ":9: evaluation.sampling.max_new_tokens: expected int" in error_of(tmp_path, text)


def test_section_validation_errors_name_the_section(tmp_path):
    message = error_of(tmp_path, MINIMAL + "sampling:\n  top_p: 2.0\n")
    assert ": sampling: top_p must be in (0, 1]" in message


def test_missing_required_section(tmp_path):
    message = error_of(tmp_path, "instructions:\n  problems: p.jsonl\n")
    assert "policy: is required" in message
    message = error_of(tmp_path, "policy: {}\ninstructions:\n  problems: p.jsonl\n")
    assert "policy.model" in message or "policy: model is required" in message


def test_keys_the_loop_sets_are_refused(tmp_path):
    message = error_of(tmp_path, MINIMAL + "training:\n  model: other/model\n")
    assert ":8: training.model: is set by the loop" in message


def test_test_generator_needed_without_given_tests(tmp_path):
    text = "policy:\n  model: m\ninstructions:\n  mbpp: mbpp.jsonl\n"
    assert "test_generator is required" in error_of(tmp_path, text)
    config = load_run_config(
        write(tmp_path, text + "test_generator:\n  model: big\n  base_url: http://x/v1\n")
    )
    assert config.test_generator is not None and config.test_generator.base_url == "http://x/v1"


def test_overrides_use_yaml_values_and_dotted_keys(tmp_path):
    path = write(tmp_path, MINIMAL)
    config = load_run_config(
        path, ["sampling.n=4", "training.beta=0.25", "evaluation.benchmarks=[humaneval]"]
    )
    assert config.sampling.n == 4
    assert config.training.beta == 0.25
    assert config.evaluation.benchmarks == ["humaneval"]
    with pytest.raises(PlumError, match="expected section.key=value"):
        load_run_config(path, ["sampling.n"])
    with pytest.raises(PlumError, match="sampling.nn: unknown key"):
        load_run_config(path, ["sampling.nn=3"])


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = load_run_config(write(tmp_path, MINIMAL + "evaluation:\n  splits: {seen: s.jsonl}\n"))
    again = run_config_from_dict(yaml.safe_load(yaml.safe_dump(config_to_dict(config))))
    assert again == config


def test_malformed_yaml_and_missing_file(tmp_path):
    assert "run.yaml:3: invalid YAML" in error_of(tmp_path, "policy:\n  model: [unclosed\n")
    with pytest.raises(PlumError, match="no such config file"):
        load_run_config(tmp_path / "absent.yaml")


def test_cli_reports_bad_config_as_one_line(tmp_path, capsys):
    path = write(tmp_path, MINIMAL + "rounds: many\n")
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("plum: error: ") and "rounds: expected int" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("name", ["cpu_tiny.yaml", "qwen7b_vllm.yaml"])
def test_example_configs_load(name):
    root = Path(__file__).resolve().parents[2]
    config = load_run_config(root / "examples" / name)
    assert config.rounds >= 1 and config.evaluation.names


def test_cpu_example_dry_runs_offline(tmp_path, monkeypatch):
    from rich.console import Console

    from plumcode.loop import dry_run

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)  # the example's paths are relative to the repository root
    config = load_run_config("examples/cpu_tiny.yaml")
    cost = dry_run(config, tmp_path / "run", console=Console(quiet=True))
    assert cost["policy samples (training instructions)"] == config.rounds * 16 * config.sampling.n
    assert cost["policy samples (evaluation)"] == (config.rounds + 1) * (20 + 16)


def test_evaluation_takes_livecodebench_with_its_window(tmp_path, shared_data):
    from plumcode.loop.config import load_eval_set

    data = shared_data / "livecodebench" / "lcb_release_v1_public.jsonl"
    text = MINIMAL + (
        "evaluation:\n  benchmarks: [livecodebench]\n"
        f"  benchmark_files: {{livecodebench: {data}}}\n"
        "  benchmark_options: {livecodebench: {start_date: '2024-01-01'}}\n"
    )
    config = load_run_config(write(tmp_path, text))
    problems = load_eval_set(config.evaluation, "livecodebench")
    assert len(problems) == 75
    assert min(p.metadata["contest_date"] for p in problems.values()) >= "2024-01-01"
    config.evaluation.benchmark_options["livecodebench"] = {"start_date": "Jan 2024"}
    with pytest.raises(PlumError, match="--start-date 'Jan 2024'"):
        load_eval_set(config.evaluation, "livecodebench")

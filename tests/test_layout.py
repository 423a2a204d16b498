"""The repository's shape: four distributions, one version, imports down the stack, every command
answering ``--help``."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from plumcode.cli import Plum, cli

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"plum-exec": "plum_exec", "plum-data": "plum_data", "plum-train": "plum_train"}
COMMANDS = {
    "plum-exec": ["evaluate-samples", "push"],
    "plum-data": ["testgen", "sample", "evaluate", "prefs", "prompts", "serve"],
    "plum-train": ["train"],
    "plum": ["testgen", "sample", "evaluate", "evaluate-samples", "prefs", "prompts", "train", "push", "serve",
             "run", "demo", "report", "info"],
}  # fmt: skip


def pyproject(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def test_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    done = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "5 kept, 0 broken" in done.stdout


def test_one_version_pinned_exactly_between_siblings():
    umbrella = pyproject(REPO)
    version = umbrella["version"]
    for dist, module in PACKAGES.items():
        folder = REPO / "packages" / dist
        project = pyproject(folder)
        assert project["name"] == dist and project["version"] == version
        assert (folder / "README.md").is_file() and (folder / "src" / module / "py.typed").is_file()
        assert __import__(module).__version__ == version
        for requirement in project["dependencies"] + umbrella["dependencies"]:
            name = re.split(r"[\[=<>]", requirement)[0]
            if name in PACKAGES:
                assert requirement.endswith(f"=={version}"), requirement


def test_each_package_registers_its_group_as_a_plum_command():
    entries = {e.name: e.value for e in metadata.entry_points(group="plum.commands")}
    assert entries == {dist: f"{module}.cli:cli" for dist, module in PACKAGES.items()}
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    for dist, module in PACKAGES.items():
        assert scripts[dist] == f"{module}.cli:cli"
    assert scripts["plum"] == "plumcode.cli:cli"


@pytest.mark.parametrize("prog", list(COMMANDS))
def test_every_command_of_every_package_answers_help(prog):
    # The console scripts themselves, as a user runs them.
    done = subprocess.run([str(Path(sys.executable).parent / prog), "--help"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = re.findall(r"^  ([a-z-]+)  ", done.stdout.split("Commands:")[1], re.M)
    assert listed == COMMANDS[prog]
    group = cli if prog == "plum" else importlib.import_module(f"{PACKAGES[prog]}.cli").cli
    for name in COMMANDS[prog]:
        result = CliRunner().invoke(group, [name, "--help"], prog_name=prog)
        assert result.exit_code == 0, result.output
        assert f"Usage: {prog} {name} [OPTIONS]" in result.output


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from plumcode.cli import main; main(['--help']); "
        "heavy = {'torch', 'transformers', 'trl', 'vllm', 'datasets', 'openai'} & set(sys.modules); "
        "print('HEAVY', sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_bad_flags_are_usage_errors_and_plum_errors_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["evaluate-samples", "--samples", "s", "--out", "o", "--workers", "x"])
    assert result.exit_code == 2 and "Invalid value for '--workers'" in result.output
    result = runner.invoke(cli, ["prefs", "--problems", str(tmp_path / "nope.jsonl"), "--samples", "s",
                                 "--results", "r", "--out", str(tmp_path), "--format", "standard"], prog_name="plum")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.startswith("plum: error: ") and result.output.count("\n") == 1


def test_a_package_that_fails_to_load_is_one_line_and_the_rest_work(monkeypatch, capsys):
    real = metadata.entry_points

    def with_a_broken_one(**kwargs):
        found = list(real(**kwargs))
        broken = metadata.EntryPoint("plum-broken", "no_such_module.cli:cli", "plum.commands")
        return [*found, broken] if kwargs.get("group") == "plum.commands" else found

    monkeypatch.setattr(metadata, "entry_points", with_a_broken_one)
    group = Plum(name="plum")
    names = group.list_commands(click.Context(group))
    assert names == COMMANDS["plum"]
    err = capsys.readouterr().err
    assert err == (
        "plum: warning: plum-broken failed to load (ModuleNotFoundError: No module named "
        "'no_such_module'); its commands are unavailable\n"
    )

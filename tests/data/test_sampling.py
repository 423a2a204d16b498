"""Prompts, ``sample_problems`` (resumable samples JSONL), and the sample/evaluate commands."""

from __future__ import annotations

import json
import re

import pytest

from plum_data.cli import cli
from plum_data.generation import GeneratorConfig, SamplingParams, load_generator
from plum_data.prompts import (
    AFTER_DOCSTRING_STOP,
    AFTER_SIGNATURE_STOP,
    EVALPLUS_INSTRUCTION_PREFIX,
    EVALPLUS_RESPONSE_PREFIX,
    PromptConfig,
    build_prompt,
    chat_prompt,
    completion_prompt,
)
from plum_data.sampling import load_problem_set, sample_problems
from plum_exec.command import run_main
from plum_exec.errors import PlumError
from plum_exec.extraction import extract_code
from plum_exec.jsonl import read_jsonl
from plum_exec.records import Problem, TestCase


def main(argv: list[str]) -> int:
    return run_main(cli, argv, "plum-data")

HUMANEVAL_STYLE = Problem(
    task_id="t/add",
    prompt='def add(a, b):\n    """Return a + b."""\n',
    entry_point="add",
    tests=[TestCase(kind="assert", code="assert add(1, 2) == 3")],
)
MBPP_STYLE = Problem(task_id="t/sq", prompt='"""\nWrite a function to square a number.\n"""\n', entry_point="square")


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    return load_generator(GeneratorConfig(model=str(tiny_model_dir), backend="transformers"))


class CountingGenerator:
    """Passes every call to the real generator and records the call's prompts and n."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []
        self.chat, self.prefill = inner.chat, inner.prefill

    def generate(self, prompts, params):
        self.calls.append((len(prompts), params.n))
        return self.inner.generate(prompts, params)


# ---------------------------------------------------------------- prompts


def test_chat_prompt_renders_exactly_as_evalplus(generator):
    # EvalPlus is a test extra of the umbrella, absent where plum-data is installed alone.
    make_raw_chat_prompt = pytest.importorskip("evalplus.provider.utility").make_raw_chat_prompt
    built = chat_prompt(MBPP_STYLE.prompt, PromptConfig(), prefill=True)
    text, _ = generator.render(built.prompt)
    expected = make_raw_chat_prompt(MBPP_STYLE.prompt, EVALPLUS_INSTRUCTION_PREFIX, EVALPLUS_RESPONSE_PREFIX, generator.tokenizer)
    assert text == expected
    assert built.prefix.endswith("```python\n") and built.stop == ("\n```",)


def test_chat_prompt_without_prefill_asks_only():
    built = chat_prompt("task", PromptConfig(system_prompt="Be brief."), prefill=False)
    assert [m["role"] for m in built.prompt] == ["system", "user"] and built.prefix == "" and built.stop == ()
    assert chat_prompt("task", PromptConfig(response_prefix=""), prefill=True).prefix == ""


def test_completion_prompt_stops_suit_the_prompt():
    assert completion_prompt(HUMANEVAL_STYLE).stop[-len(AFTER_SIGNATURE_STOP) :] == AFTER_SIGNATURE_STOP
    assert completion_prompt(MBPP_STYLE).stop[-len(AFTER_DOCSTRING_STOP) :] == AFTER_DOCSTRING_STOP
    assert completion_prompt(HUMANEVAL_STYLE).prompt == HUMANEVAL_STYLE.prompt


def test_auto_style_follows_the_chat_template(generator):
    assert build_prompt(MBPP_STYLE, PromptConfig(), generator).style == "chat"
    assert build_prompt(MBPP_STYLE, PromptConfig(prompt_style="completion"), generator).style == "completion"


# ---------------------------------------------------------------- sample_problems


def test_samples_rows_and_solutions(generator, tmp_path):
    out = tmp_path / "samples.jsonl"
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=8, seed=0)
    samples = sample_problems([HUMANEVAL_STYLE, MBPP_STYLE], generator, params, out)
    rows = list(read_jsonl(out))
    assert [(r["task_id"], r["sample_id"]) for r in rows] == [("t/add", 0), ("t/add", 1), ("t/sq", 0), ("t/sq", 1)]
    assert [s.to_dict() for s in samples] == rows
    for row in rows:
        assert row["response"].startswith(EVALPLUS_RESPONSE_PREFIX)  # the prefill is part of the response
        entry_point = "add" if row["task_id"] == "t/add" else "square"
        assert row["solution"] == extract_code(row["response"], entry_point)
        assert row["metadata"]["prompt_tokens"] > 0 and 1 <= row["metadata"]["completion_tokens"] <= 8


def test_completion_style_solution_is_prompt_plus_completion(generator, tmp_path):
    # The prompt already holds a working function; whatever the random model appends, the
    # program keeps it.
    problem = Problem(task_id="t/id", prompt="def ident(x):\n    return x\n", entry_point="ident")
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=6, seed=1)
    samples = sample_problems([problem], generator, params, tmp_path / "s.jsonl",
                              prompt_config=PromptConfig(prompt_style="completion"))
    for s in samples:
        assert s.solution == extract_code(problem.prompt + s.response, "ident")
        namespace: dict = {}
        exec(s.solution, namespace)
        assert namespace["ident"](7) == 7


def test_resume_generates_only_missing_samples(generator, tmp_path):
    out = tmp_path / "samples.jsonl"
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=4, seed=0)
    problems = {p.task_id: p for p in (HUMANEVAL_STYLE, MBPP_STYLE)}
    sample_problems(problems, generator, params, out)
    lines = out.read_text().splitlines()
    # Lose t/sq's samples, keep t/add's second one torn mid-write (a crash).
    out.write_text("\n".join(lines[:1]) + "\n" + lines[1][:20])
    spy = CountingGenerator(generator)
    samples = sample_problems(problems, spy, params, out)
    assert spy.calls == [(1, 1), (1, 2)]  # t/add needs 1 more, t/sq needs both
    rows = list(read_jsonl(out))
    assert rows[0] == json.loads(lines[0])  # finished work is untouched
    assert sorted((r["task_id"], r["sample_id"]) for r in rows) == [("t/add", 0), ("t/add", 1), ("t/sq", 0), ("t/sq", 1)]
    assert [(s.task_id, s.sample_id) for s in samples] == [("t/add", 0), ("t/add", 1), ("t/sq", 0), ("t/sq", 1)]
    spy.calls.clear()
    sample_problems(problems, spy, params, out)
    assert spy.calls == []


def test_chunks_bound_each_generate_call(generator, tmp_path):
    problems = [Problem(task_id=f"t/{i}", prompt=f"def f{i}(x):\n", entry_point=f"f{i}") for i in range(5)]
    spy = CountingGenerator(generator)
    sample_problems(problems, spy, SamplingParams(max_new_tokens=2), tmp_path / "s.jsonl",
                    prompt_config=PromptConfig(prompt_style="completion"), chunk_size=2)
    assert spy.calls == [(2, 1), (2, 1), (1, 1)]


def test_bad_existing_rows_are_one_line_errors(generator, tmp_path):
    out = tmp_path / "samples.jsonl"
    out.write_text('{"task_id": "t/add", "sample_id": 0, "solution": ""}\n{"task_id": "t/add"}\n')
    with pytest.raises(PlumError, match=rf"^{out}:2: missing field 'sample_id'$"):
        sample_problems([HUMANEVAL_STYLE], generator, SamplingParams(), out)


def test_unknown_problem_set_is_a_one_line_error():
    with pytest.raises(PlumError, match=re.escape("unknown benchmark 'humaneval++': use one of")):
        load_problem_set("humaneval++")
    with pytest.raises(PlumError, match="no such file"):
        load_problem_set("missing.jsonl")


# ---------------------------------------------------------------- commands


def write_problems(path):
    rows = [
        {"task_id": "p/add", "prompt": "def add(a, b):\n    return a + b\n", "tests": ["assert add(2, 3) == 5"]},
        {"task_id": "p/neg", "prompt": "def neg(x):\n    return x\n", "tests": ["assert neg(2) == -2"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_plum_sample_command(tiny_model_dir, tmp_path, capsys):
    problems = write_problems(tmp_path / "problems.jsonl")
    out = tmp_path / "samples.jsonl"
    argv = ["sample", "--model", str(tiny_model_dir), "--problems", str(problems), "--out", str(out),
            "--n", "2", "--max-new-tokens", "4", "--limit", "1"]
    assert main(argv) == 0
    assert [(r["task_id"], r["sample_id"]) for r in read_jsonl(out)] == [("p/add", 0), ("p/add", 1)]
    assert main([*argv[:-2], "--top-p", "0"]) == 2
    assert "top_p must be in (0, 1]" in capsys.readouterr().err


def test_plum_evaluate_command_end_to_end(tiny_model_dir, tmp_path, capsys):
    problems = write_problems(tmp_path / "problems.jsonl")
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", str(tiny_model_dir), "--benchmark", str(problems), "--out", str(out),
            "--greedy", "--prompt-style", "completion", "--max-new-tokens", "4", "--workers", "1"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    # p/add's prompt is a correct program, p/neg's a wrong one: the random model's additions
    # never change that (extraction keeps the prompt's function).
    assert summary["base"] == {"pass@1": 0.5} and summary["greedy"] is True
    results = {r["task_id"]: r["base_status"] for r in read_jsonl(out / "results.jsonl")}
    assert results == {"p/add": "pass", "p/neg": "fail"}
    assert json.loads((out / "settings.json").read_text())["sampling"]["temperature"] == 0.0
    resampled = [a for a in argv if a != "--greedy"] + ["--n", "2", "--temperature", "0.8"]
    assert main(resampled) == 2
    assert "holds a run with other sampling" in capsys.readouterr().err

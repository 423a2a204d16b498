"""``synthesize_tests`` end to end with a scripted generator (a test double for the model) and
the real sandbox: outputs, per-test rejection reasons, stats, resume."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from rich.console import Console

from plum_data.generation import Completion, SamplingParams
from plum_data.instructions import Instruction
from plum_data.testgen import TestGenConfig, output_paths, synthesize_tests
from plum_data.testgen.pipeline import print_stats
from plum_exec.problems import load_problems_jsonl
from plum_exec.sandbox import SandboxConfig

GOOD = """\
### Analysis
Count vowels, case-insensitively.

### Solution
```python
VOWELS = set("aeiou")

def count_vowels(text: str) -> int:
    return sum(ch in VOWELS for ch in text.lower())
```

### Tests
```python
assert count_vowels("hello") == 2
assert count_vowels("") == 0
assert count_vowels("AEIOU") == 5
assert count_vowels("xyz") == 1
assert count_vowels("hello") == 2
assert True
assert count_vowels("Programming") == 3
```
"""
ALL_WRONG = """\
```python
def cube(x):
    return x ** 3
```
```python
assert cube(2) == 6
assert cube(3) == 9
assert cube(0) == 0
```
"""
NO_CODE = "I cannot write code for this request."
RIGHT_MAX = "```python\ndef biggest(xs):\n    return max(xs)\n```\n```python\nassert biggest([1, 3, 2]) == 3\nassert biggest([-1, -5]) == -1\nassert biggest([4]) == 4\n```"
WRONG_MAX = "```python\ndef biggest(xs):\n    return xs[0]\n```\n```python\nassert biggest([1, 3, 2]) == 1\nassert biggest([7, 1]) == 7\n```"


class ScriptedGenerator:
    """Implements the Generator protocol with fixed responses, chosen by a word in the prompt."""

    chat = True
    prefill = False

    def __init__(self, responses: dict[str, list[str]]):
        self.responses = responses
        self.prompts: list[str] = []

    def generate(
        self, prompts: Sequence[list[dict[str, str]]], params: SamplingParams
    ) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            content = prompt[-1]["content"]
            self.prompts.append(content)
            key = next(k for k in self.responses if k in content)
            texts = (self.responses[key] * params.n)[: params.n]
            out.append([Completion(text=t, finish_reason="stop") for t in texts])
        return out


INSTRUCTIONS = [
    Instruction("gen/vowels", "Count the vowels in a string."),
    Instruction("gen/cube", "Return the cube of a number."),
    Instruction("gen/nothing", "Solve the halting problem."),
]
SCRIPT = {
    "vowels": [GOOD],
    "cube": [ALL_WRONG],
    "halting": [NO_CODE],
    "largest": [WRONG_MAX, RIGHT_MAX, RIGHT_MAX],
}


def run(tmp_path: Path, generator: ScriptedGenerator, instructions=INSTRUCTIONS, **config) -> dict:
    return synthesize_tests(
        instructions,
        generator,
        tmp_path / "problems.jsonl",
        TestGenConfig(**{"chunk_size": 2, **config}),
        SandboxConfig(workers=2),
        console=Console(file=io.StringIO()),
    )


def test_synthesize_keeps_validated_tests_and_reports_why_others_went(tmp_path: Path) -> None:
    stats = run(tmp_path, ScriptedGenerator(SCRIPT))
    out, log, stats_path = output_paths(tmp_path / "problems.jsonl")

    problems = load_problems_jsonl(out)
    assert list(problems) == ["gen/vowels"]
    vowels = problems["gen/vowels"]
    assert vowels.entry_point == "count_vowels"
    assert [t.code for t in vowels.tests] == [
        'assert count_vowels("hello") == 2',
        'assert count_vowels("") == 0',
        'assert count_vowels("AEIOU") == 5',
        'assert count_vowels("Programming") == 3',
    ]
    assert "VOWELS = set" in vowels.reference and "def count_vowels" in vowels.reference
    # The policy sees the instruction completed with the signature the reference fixed.
    assert vowels.prompt.startswith("Count the vowels in a string.")
    assert "def count_vowels(text: str) -> int:\n    ..." in vowels.prompt

    rows = {r["task_id"]: r for r in map(json.loads, log.read_text().splitlines())}
    assert {r["test"]: r["reason"] for r in rows["gen/vowels"]["rejected_tests"]} == {
        'assert count_vowels("xyz") == 1': "reference_fail",
        'assert count_vowels("hello") == 2': "duplicate",
        "assert True": "constant",
    }
    assert rows["gen/cube"]["reason"] == "too_few_tests" and rows["gen/cube"]["problem"] is None
    assert rows["gen/nothing"]["reason"] == "no_solution"

    assert stats == json.loads(stats_path.read_text())
    assert stats["problems_in"] == 3 and stats["problems_kept"] == 1
    assert stats["problems_dropped"] == {"too_few_tests": 1, "no_solution": 1}
    assert stats["tests_kept"] == 4 and stats["tests_per_problem"]["max"] == 4
    assert stats["tests_rejected"] == {"reference_fail": 3, "duplicate": 1, "constant": 1}
    console = Console(file=io.StringIO())
    print_stats(stats, console)
    assert "problems kept" in console.file.getvalue()


def test_rerun_resumes_from_the_log_without_generating_again(tmp_path: Path) -> None:
    first = ScriptedGenerator(SCRIPT)
    run(tmp_path, first, INSTRUCTIONS[:2])
    assert len(first.prompts) == 2
    out = tmp_path / "problems.jsonl"
    before = out.read_text()

    # A crash mid-append leaves a torn line; the rerun drops it and redoes nothing else.
    log = tmp_path / "problems.log.jsonl"
    log.write_text(log.read_text() + '{"task_id": "gen/noth')
    second = ScriptedGenerator(SCRIPT)
    stats = run(tmp_path, second, INSTRUCTIONS)
    assert len(second.prompts) == 1 and "halting" in second.prompts[0]
    assert stats["problems_finished"] == 3
    assert out.read_text() == before  # the new problem was dropped, the kept one is unchanged

    third = ScriptedGenerator({})  # any generation would fail: nothing is left to do
    assert run(tmp_path, third, INSTRUCTIONS)["problems_kept"] == 1 and third.prompts == []


def test_several_references_keep_the_largest_agreeing_group(tmp_path: Path) -> None:
    instruction = Instruction("gen/max", "Return the largest element of a list.")
    stats = run(tmp_path, ScriptedGenerator(SCRIPT), [instruction], n_references=3, temperature=0.8)
    problem = load_problems_jsonl(tmp_path / "problems.jsonl")["gen/max"]
    assert "max(xs)" in problem.reference
    assert [t.code for t in problem.tests] == [
        "assert biggest([7, 1]) == 7",
        "assert biggest([1, 3, 2]) == 3",
        "assert biggest([-1, -5]) == -1",
        "assert biggest([4]) == 4",
    ]
    log = json.loads((tmp_path / "problems.log.jsonl").read_text())
    assert (log["references"], log["agreeing"]) == (3, 2)
    assert stats["tests_rejected"] == {"reference_fail": 1, "duplicate": 3}


def test_expected_values_from_the_reference_rescue_wrong_arithmetic(tmp_path: Path) -> None:
    stats = run(tmp_path, ScriptedGenerator(SCRIPT), INSTRUCTIONS, expected_values="reference")
    problems = load_problems_jsonl(tmp_path / "problems.jsonl")
    assert sorted(problems) == ["gen/cube", "gen/vowels"]
    assert [t.code for t in problems["gen/cube"].tests] == [
        "assert cube(2) == 8",
        "assert cube(3) == 27",
        "assert cube(0) == 0",
    ]
    # The generator's own "xyz" -> 1 becomes the reference's 0; duplicates and constants still go.
    assert "assert count_vowels('xyz') == 0" in [t.code for t in problems["gen/vowels"].tests]
    assert stats["tests_rejected"] == {"constant": 1}


@pytest.mark.parametrize("expected_values", ["tests", "reference"])
def test_min_agreement_drops_split_votes(tmp_path: Path, expected_values: str) -> None:
    instruction = Instruction("gen/max", "Return the largest element of a list.")
    settings = {"n_references": 3, "temperature": 0.8, "expected_values": expected_values}
    run(tmp_path / "two", ScriptedGenerator(SCRIPT), [instruction], min_agreement=2, **settings)
    problem = load_problems_jsonl(tmp_path / "two" / "problems.jsonl")["gen/max"]
    assert "max(xs)" in problem.reference
    assert "assert biggest([7, 1]) == 7" in [t.code for t in problem.tests]
    log = json.loads((tmp_path / "two" / "problems.log.jsonl").read_text())
    assert (log["references"], log["agreeing"]) == (3, 2)

    stats = run(tmp_path / "all", ScriptedGenerator(SCRIPT), [instruction], min_agreement=3, **settings)
    assert stats["problems_kept"] == 0 and stats["problems_dropped"] == {"no_agreement": 1}


def test_known_entry_point_is_kept_and_the_prompt_unchanged(tmp_path: Path) -> None:
    prompt = 'def count_vowels(text):\n    """Count the vowels (a, e, i, o, u) in text, ignoring case."""\n'
    instruction = Instruction("he/1", prompt, entry_point="count_vowels", prompt=prompt)
    generator = ScriptedGenerator({"vowels": [GOOD]})
    run(tmp_path, generator, [instruction])
    assert "must be named `count_vowels`" in generator.prompts[0]
    problem = load_problems_jsonl(tmp_path / "problems.jsonl")["he/1"]
    assert problem.prompt == prompt and problem.entry_point == "count_vowels"


def test_solution_under_another_name_is_renamed_to_the_instructions_entry_point(
    tmp_path: Path,
) -> None:
    instruction = Instruction("he/2", "Count vowels", entry_point="vowel_count")
    run(tmp_path, ScriptedGenerator({"vowels": [GOOD]}), [instruction])
    problem = load_problems_jsonl(tmp_path / "problems.jsonl")["he/2"]
    assert problem.entry_point == "vowel_count"
    assert "def vowel_count(text: str) -> int:" in problem.reference
    assert "count_vowels" not in problem.reference
    assert [t.code for t in problem.tests][:2] == [
        "assert vowel_count('hello') == 2",
        "assert vowel_count('') == 0",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"n_references": 0},
        {"n_references": 2, "temperature": 0.0},
        {"top_p": 0},
        {"expected_values": "model"},
        {"min_agreement": 2},
        {"min_agreement": 0},
    ],
)
def test_config_validation(bad: dict) -> None:
    with pytest.raises(ValueError):
        TestGenConfig(**bad)

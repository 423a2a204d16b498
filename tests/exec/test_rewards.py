"""PlumTestReward: rewards bound to the judge's verdicts, in TRL's reward-function call."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator, Sequence

import pytest
from hostile_programs import HOSTILE
from test_sandbox_forgery import FORGERS, HONEST
from test_sandbox_forgery import TESTS as FORGERY_TESTS

from plum_exec import records, rewards
from plum_exec.errors import PlumError
from plum_exec.evaluation import EvaluationConfig
from plum_exec.records import INFRA_ERROR, Problem, Sample, TestCase
from plum_exec.rewards import PlumTestReward
from plum_exec.sandbox import Job, JobResult, Sandbox

EXECUTION = EvaluationConfig(workers=2, timeout=1.0)
ADD = Problem(
    task_id="add",
    prompt='def add(a, b):\n    """Return a + b."""\n',
    entry_point="add",
    tests=[TestCase("assert", f"assert add({a}, {b}) == {a + b}") for a, b in [(1, 2), (0, 0), (-1, 5), (2, 2)]],
    reference="def add(a, b):\n    return a + b\n",
)
# add(2, 2) == 4 by accident, add(0, 0) == 0 too: half the tests pass.
HALF = "def add(a, b):\n    return a * b\n"
FORGERY = Problem(task_id="forgery", prompt="f", entry_point="f", tests=FORGERY_TESTS, setup="import math")
# One test the judge cannot evaluate outside the program (it passes the program a function), one it can.
SPLIT = Problem(
    task_id="split",
    prompt="apply",
    entry_point="apply",
    tests=[TestCase("assert", "assert apply(lambda v: v + 1) == 3"), TestCase("assert", "assert apply(2) == 4")],
)


@pytest.fixture(scope="module")
def reward() -> Iterator[PlumTestReward]:
    with PlumTestReward({p.task_id: p for p in (ADD, FORGERY, SPLIT)}, execution=EXECUTION) as judge:
        yield judge


def chat(code: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": f"Here it is:\n```python\n{code}```\n"}]


def test_rewards_follow_verdicts_in_order(reward: PlumTestReward) -> None:
    """Distinct rewards per position: a negated or reordered reward fails this."""
    completions = [
        chat("def add(a, b):\n    return a - b\n"),  # passes add(0, 0) only
        chat(ADD.reference or ""),
        chat(HALF),
        chat("def add(a, b):\n    return b + a + 1\n"),
    ]
    got = reward(prompts=[[{"role": "user", "content": ADD.prompt}]] * 4, completions=completions, task_id=["add"] * 4)
    assert got == [0.25, 1.0, 0.5, 0.0]


def test_all_pass_option_and_plain_continuations() -> None:
    """A plain prompt that is the problem's own prompt is continued: program = prompt + text."""
    body = "    return a + b\n"
    with PlumTestReward({"add": ADD}, execution=EXECUTION, all_pass=True) as judge:
        got = judge(prompts=[ADD.prompt] * 2, completions=[body, "    return a * b\n"], task_id=["add", "add"])
    assert got == [1.0, 0.0]


def test_forgers_get_nothing(reward: PlumTestReward) -> None:
    names = sorted(FORGERS)
    programs = [HONEST, *(FORGERS[name] for name in names)]
    got = reward(prompts=["f"] * len(programs), completions=[chat(p) for p in programs], task_id=["forgery"] * len(programs))
    assert got[0] == 1.0, "the honest program must pass, or the forgers' zeros mean nothing"
    assert dict(zip(names, got[1:], strict=True)) == {name: 0.0 for name in names}
    # Extraction drops some forgers' top-level code: judge the programs as written too.
    results = reward.judge([Sample("forgery", i, program) for i, program in enumerate(programs)])
    raw = [reward.score(results[i]) for i in range(len(programs))]
    assert raw == [1.0] + [0.0] * len(names), dict(zip(["honest", *names], raw, strict=True))


@pytest.mark.parametrize("name", ["fork_bomb", "memory_bomb", "forge_records", "ignore_alarm_spin"])
def test_hostile_programs_are_contained_and_get_zero(reward: PlumTestReward, name: str) -> None:
    hostile = HOSTILE[name].replace("def f(", "def add(")
    got = reward(prompts=["add"] * 2, completions=[chat(hostile), chat(ADD.reference or "")], task_id=["add", "add"])
    assert got == [0.0, 1.0]  # the pool survives it: the next program in the batch is judged


def test_unsplittable_tests_are_left_out_not_failed(reward: PlumTestReward) -> None:
    right, wrong = (f"def apply(h):\n    return h(2) if callable(h) else {n}\n" for n in ("2 * h", "h"))
    got = reward(prompts=["apply"] * 2, completions=[chat(right), chat(wrong)], task_id=["split", "split"])
    assert got == [1.0, 0.0]
    only_unsplittable = {"split": dataclasses.replace(SPLIT, tests=SPLIT.tests[:1])}
    with PlumTestReward(only_unsplittable, execution=EXECUTION) as judge:
        assert judge(prompts=["apply"], completions=[chat(right)], task_id=["split"]) == [None]


class FaultySandbox(Sandbox):
    """The real sandbox, with an infrastructure fault injected for one program, every time."""

    faulty = "def add(a, b):\n    return a + b + 0\n"

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, JobResult]]:
        for index, result in super().run(jobs):
            if jobs[index].program.strip() == self.faulty.strip():
                result = JobResult([records.TestOutcome(INFRA_ERROR, 0.0, "injected")] * len(result.outcomes), result.outputs)
            yield index, result


def test_infrastructure_faults_are_none_never_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rewards, "Sandbox", FaultySandbox)
    logged: dict[str, float] = {}
    with PlumTestReward({"add": ADD}, execution=EXECUTION) as judge:
        got = judge(
            prompts=["add"] * 3,
            completions=[chat(FaultySandbox.faulty), chat(HALF), chat(ADD.reference or "")],
            task_id=["add"] * 3,
            log_metric=logged.__setitem__,
        )
    assert got == [None, 0.5, 1.0]
    assert logged["plum/infra_faults"] == 1 and logged["plum/all_pass"] == 0.5


def test_bad_calls_are_one_line_errors(reward: PlumTestReward) -> None:
    with pytest.raises(PlumError, match="task_id"):
        reward(prompts=["x"], completions=["y"])
    with pytest.raises(PlumError, match="unknown task_id 'nope'"):
        reward(prompts=["x"], completions=["y"], task_id=["nope"])
    with pytest.raises(PlumError, match="exactly one of"):
        PlumTestReward()


def test_pickles_without_its_pool(reward: PlumTestReward) -> None:
    reward(prompts=["add"], completions=[chat(ADD.reference or "")], task_id=["add"])  # pool started
    copy = pickle.loads(pickle.dumps(reward))
    with copy:
        assert copy(prompts=["add"], completions=[chat(HALF)], task_id=["add"]) == [0.5]


def test_benchmark_problems_like_evaluate_samples(shared_data) -> None:  # noqa: ANN001
    """MBPP from the shared copy (benchmark= and dataset_path=, as evaluate-samples takes them):
    the reference solution gets 1, a wrong one 0."""
    with PlumTestReward(benchmark="mbpp", dataset_path=shared_data / "mbpp" / "mbpp.jsonl", execution=EXECUTION) as judge:
        task_id, problem = next(iter(judge.problems.items()))
        wrong = f"def {problem.entry_point}(*args):\n    return None\n"
        got = judge(prompts=[problem.prompt] * 2, completions=[chat(problem.reference or ""), chat(wrong)], task_id=[task_id] * 2)
    assert got == [1.0, 0.0]

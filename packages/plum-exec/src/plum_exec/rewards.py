"""A reward function for online RL (TRL's ``GRPOTrainer``): a completion's program run against its
problem's tests in plum's sandbox, scored by the fraction of tests it passes.

```python
from trl import GRPOTrainer
from plum_exec.rewards import PlumTestReward

reward = PlumTestReward(problems="tests.jsonl")          # or benchmark="mbpp+", dataset_path=...
trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=prompts)  # rows: prompt, task_id
```

TRL calls it with ``prompts``, ``completions`` (text, or a list of chat messages) and every other
dataset column as a keyword argument; ``task_id`` names each completion's problem. A reward is:

- the pass fraction of the problem's tests (base and plus, as ``evaluate-samples`` runs them), or
  with ``all_pass`` 1.0 when every test passes and 0.0 otherwise;
- ``None`` when the sandbox itself failed on the program twice (an infrastructure fault is never
  the program's fault; TRL leaves a ``None`` out of the group's baseline and gives it no advantage);
- tests the judge cannot split from the program (docs/sandbox.md, "Forms that cannot be split")
  are left out of the fraction, not failed; a program with no other test gets ``None``.

The sandbox pool starts on the first call and stays warm across training steps (``close()``,
or use the reward as a context manager, to stop it). No torch here: plum-exec stays light.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.evaluation import EvaluationConfig, run_samples, sandbox_config_for
from plum_exec.extraction import program_from_response
from plum_exec.records import INFRA_ERROR, PASS, Problem, Sample, SampleResult, TestOutcome
from plum_exec.sandbox import Sandbox

UNJUDGEABLE = "the test cannot be judged outside the program"  # the judge's message (judge.py)
Completion = str | list[dict[str, Any]]


class PlumTestReward:
    """Pass fraction of each completion's program on its problem's tests (module docstring).

    Parameters:
        problems: the problems with tests: a dict ``{task_id: Problem}``, or a dataset spec plum
            reads (testgen's problems JSONL, a dataset folder, a Hub id), as ``--problems``.
        benchmark / dataset_path / benchmark_options: a known benchmark instead, as
            ``evaluate-samples --benchmark --dataset-path`` (options: LiveCodeBench's window).
        execution: sandbox and time limits (``EvaluationConfig``: workers, timeout, isolation, ...).
        all_pass: 1.0 only when every judged test passes (the verdict), instead of the fraction.
    """

    __name__ = "plum_tests"  # the name TRL logs the reward under (rewards/plum_tests/mean)

    def __init__(
        self,
        problems: str | Path | dict[str, Problem] | None = None,
        *,
        benchmark: str | None = None,
        dataset_path: str | Path | None = None,
        benchmark_options: dict[str, Any] | None = None,
        execution: EvaluationConfig | None = None,
        all_pass: bool = False,
    ):
        self.problems = _load_problems(problems, benchmark, dataset_path, benchmark_options or {})
        self.execution = execution or EvaluationConfig()
        self.all_pass = all_pass
        self._sandbox: Sandbox | None = None
        self._with_truth: set[str] = set()  # task ids whose io tests have expected values
        self._lock = threading.Lock()  # one batch in the pool at a time (TRL's async rewards)
        self.last_call: dict[str, float] = {}  # seconds judging, programs, faults: for measuring

    # -- TRL's reward function interface -----------------------------------------------------
    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Completion],
        task_id: Sequence[str] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_columns: Any,
    ) -> list[float | None]:
        """One reward per completion, in order; ``task_id`` is the dataset's column."""
        if task_id is None:
            raise PlumError("PlumTestReward: the dataset needs a 'task_id' column naming each prompt's problem")
        if not len(prompts) == len(completions) == len(task_id):
            raise PlumError(
                f"PlumTestReward: {len(prompts)} prompts, {len(completions)} completions, {len(task_id)} task ids"
            )
        started = time.perf_counter()
        samples = [
            Sample(task, index, self.program(task, prompt, completion))
            for index, (task, prompt, completion) in enumerate(zip(task_id, prompts, completions, strict=True))
        ]
        results = self.judge(samples)
        rewards = [self.score(results[index]) for index in range(len(samples))]
        self.last_call = {
            "seconds": time.perf_counter() - started,
            "programs": len(samples),
            "infra_faults": sum(r is None for r in rewards),
        }
        if log_metric is not None:
            scored = [r for r in rewards if r is not None]
            log_metric("plum/judge_seconds", self.last_call["seconds"])
            log_metric("plum/all_pass", sum(r == 1.0 for r in scored) / max(len(scored), 1))
            log_metric("plum/infra_faults", self.last_call["infra_faults"])
        return rewards

    def program(self, task_id: str, prompt: Any, completion: Completion) -> str:
        """The program in ``completion``, extracted as ``plum sample`` extracts it: a chat answer by
        the benchmark's rule, a plain continuation of the problem's own prompt as prompt + text."""
        problem = self._problem(task_id)
        if isinstance(completion, list):  # chat: the assistant's message(s), after any prefill
            prefilled = isinstance(prompt, list) and prompt and prompt[-1].get("role") == "assistant"
            prefill = prompt[-1]["content"] if prefilled else ""
            text = prefill + "".join(str(m.get("content", "")) for m in completion)
            return program_from_response(text, problem)
        if problem.metadata.get("benchmark") == "livecodebench":
            return program_from_response(completion, problem, base_model=True)
        if isinstance(prompt, str) and prompt.endswith(problem.prompt):
            return program_from_response(problem.prompt + completion, problem)
        return program_from_response(completion, problem)

    def judge(self, samples: Sequence[Sample]) -> dict[int, SampleResult]:
        """Run each sample on its problem's tests in the warm pool; results by ``sample_id``."""
        with self._lock:
            sandbox = self._pool()
            problems = self._ground_truth({s.task_id for s in samples}, sandbox)
            return {r.sample_id: r for r in run_samples(problems, samples, sandbox, self.execution)}

    def score(self, result: SampleResult) -> float | None:
        outcomes = [*result.base_outcomes, *result.plus_outcomes]
        judged = [o for o in outcomes if not _unjudgeable(o)]
        if not judged or any(o.status == INFRA_ERROR for o in judged):
            return None
        passed = sum(o.status == PASS for o in judged)
        if self.all_pass:
            return float(passed == len(judged))
        return passed / len(judged)

    # -- the pool ------------------------------------------------------------------------------
    def _problem(self, task_id: str) -> Problem:
        problem = self.problems.get(task_id)
        if problem is None:
            raise PlumError(f"PlumTestReward: unknown task_id {task_id!r} (not one of the {len(self.problems)} problems)")
        return problem

    def _pool(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox(sandbox_config_for(self.execution, self.problems))
        return self._sandbox

    def _ground_truth(self, task_ids: set[str], sandbox: Sandbox) -> dict[str, Problem]:
        """Expected outputs and time limits from the references, once per problem (cached on disk too)."""
        todo = {t: self.problems[t] for t in task_ids - self._with_truth if self.problems[t].reference is not None}
        if todo:
            from plum_exec.problems.ground_truth import attach_ground_truth

            self.problems = {**self.problems, **attach_ground_truth(todo, sandbox)}
        self._with_truth |= task_ids
        return self.problems

    def close(self) -> None:
        sandbox, self._sandbox = getattr(self, "_sandbox", None), None
        if sandbox is not None:
            sandbox.close()

    def __enter__(self) -> PlumTestReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (TRL and multiprocessing copy reward functions): the copy starts its own pool."""
        state = {**self.__dict__, "_sandbox": None}
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())


def _unjudgeable(outcome: TestOutcome) -> bool:
    return outcome.status == INFRA_ERROR and outcome.message.startswith(UNJUDGEABLE)


def _load_problems(
    problems: str | Path | dict[str, Problem] | None,
    benchmark: str | None,
    dataset_path: str | Path | None,
    options: dict[str, Any],
) -> dict[str, Problem]:
    from plum_exec.problems import load_benchmark, load_problems_jsonl

    if (problems is None) == (benchmark is None):
        raise PlumError("PlumTestReward: give exactly one of problems= and benchmark=")
    if dataset_path is not None and benchmark is None:
        raise PlumError("PlumTestReward: dataset_path= goes with benchmark= (problems= takes a dataset itself)")
    if isinstance(problems, dict):
        return dict(problems)
    if problems is not None:
        return load_problems_jsonl(str(problems))
    return load_benchmark(str(benchmark), dataset_path, **options)

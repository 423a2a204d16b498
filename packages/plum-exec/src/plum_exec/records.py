"""Typed records passed between pipeline stages.

Every stage reads and writes these as JSONL rows (``to_dict``/``from_dict``), so each stage can
run alone. Status vocabulary follows EvalPlus (``pass``/``fail``/``timeout``), plus ``error``
(the program raised) and ``infra_error`` (the harness itself broke: never the program's fault,
never counted as a failure, never used as training data).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "timeout", "error", "infra_error"]
PASS: Status = "pass"
FAIL: Status = "fail"
TIMEOUT: Status = "timeout"
ERROR: Status = "error"
INFRA_ERROR: Status = "infra_error"
STATUSES: tuple[Status, ...] = (PASS, FAIL, TIMEOUT, ERROR, INFRA_ERROR)

TestKind = Literal["assert", "io", "check", "stdio", "functional"]


@dataclass(frozen=True)
class TestCase:
    """One test of a program.

    ``kind`` says how it runs:
    - ``assert``: ``code`` holds statements (usually one ``assert``) run in the program's namespace.
    - ``io``: ``entry_point(*inputs)`` is called inside the sandbox; its output travels back as
      plain data and is compared with ``expected`` outside the sandbox (with the problem's
      ``atol`` for floats), so the program never sees the expected value.
    - ``check``: HumanEval style; ``code`` defines ``check(candidate)``, called with the entry point.
    - ``stdio``: the program gets ``inputs`` (a string) on stdin; its stdout is compared with
      ``expected`` (a string) by LiveCodeBench's rules, outside the sandbox.
    - ``functional``: ``inputs`` holds one JSON value per line, the positional arguments of the
      entry point (a method of ``Solution()`` when the program defines that class); the returned
      value is compared with ``expected`` (JSON text) by LiveCodeBench's rules, outside the sandbox.
    ``stdio`` and ``functional`` tests load and run the program as LiveCodeBench's grader does
    (docs/livecodebench.md); a problem's tests are all of one of these kinds or none.

    ``oracle`` (io tests) names how an output is judged against ``expected``: ``exact`` (``==``,
    floats within the problem's ``atol``, EvalPlus's rule), ``set_eq`` (same elements),
    ``not_none`` (``expected`` is a bool saying whether a value is returned), ``exact_or_zero``,
    ``always`` (any returned plain value passes), ``poly_root`` (the output is a root of the
    polynomial ``inputs[0]``, within ``atol``), ``digit_distance`` and ``surface_area`` (the
    expected value or EvalPlus's alternative solution's). EvalPlus's per-task oracles map onto these.
    """

    __test__ = False  # tell pytest this is not a test class

    kind: TestKind
    code: str = ""
    inputs: Any = None
    expected: Any = None
    has_expected: bool = False
    oracle: str = "exact"


@dataclass
class Problem:
    """A programming problem with its tests.

    ``prompt`` is what a model sees. ``reference`` is a complete reference program (for
    HumanEval, prompt + canonical body). ``setup`` runs before the program in the same namespace
    (imports the tests rely on). ``plus_tests`` holds EvalPlus's extra tests; ``has_plus`` says
    whether the benchmark has a plus verdict at all.
    """

    task_id: str
    prompt: str
    entry_point: str | None = None
    tests: list[TestCase] = field(default_factory=list)
    plus_tests: list[TestCase] = field(default_factory=list)
    has_plus: bool = False
    setup: str = ""
    reference: str | None = None
    atol: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One candidate program for a problem. ``solution`` is the whole program as executed."""

    task_id: str
    sample_id: int
    solution: str
    response: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TestOutcome:
    """The harness's record for one test: explicit, never inferred from an exit code."""

    status: Status
    duration: float = 0.0
    message: str = ""


@dataclass
class SampleResult:
    """One result row per sample, as ``plum evaluate-samples`` writes it.

    ``plus_status`` is None when the benchmark has no plus tests; as in EvalPlus it is ``pass``
    only when the base tests pass too. Indices in ``failed_*`` count from 0 within their list.
    """

    task_id: str
    sample_id: int
    base_status: Status
    plus_status: Status | None = None
    base_outcomes: list[TestOutcome] = field(default_factory=list)
    plus_outcomes: list[TestOutcome] = field(default_factory=list)
    duration: float = 0.0
    stderr: str = ""

    @property
    def failed_base(self) -> list[int]:
        return [i for i, o in enumerate(self.base_outcomes) if o.status != PASS]

    @property
    def failed_plus(self) -> list[int]:
        return [i for i, o in enumerate(self.plus_outcomes) if o.status != PASS]

    @property
    def has_infra_error(self) -> bool:
        return INFRA_ERROR in (self.base_status, self.plus_status)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["failed_base"] = self.failed_base
        row["failed_plus"] = self.failed_plus
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> SampleResult:
        return cls(
            task_id=row["task_id"],
            sample_id=int(row["sample_id"]),
            base_status=row["base_status"],
            plus_status=row.get("plus_status"),
            base_outcomes=[TestOutcome(**o) for o in row.get("base_outcomes", [])],
            plus_outcomes=[TestOutcome(**o) for o in row.get("plus_outcomes", [])],
            duration=float(row.get("duration", 0.0)),
            stderr=row.get("stderr", ""),
        )

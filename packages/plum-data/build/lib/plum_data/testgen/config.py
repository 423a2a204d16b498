"""``TestGenConfig``: one definition for ``plum testgen``'s flags, YAML keys and Python API."""

from __future__ import annotations

from dataclasses import dataclass, field

EXPECTED_VALUES = ("tests", "reference")


@dataclass
class TestGenConfig:
    """Settings of test synthesis (PLUM stage 1).

    Parameters that control the generator's request:
        n_references: responses sampled per problem, each with a reference solution and tests.
            With more than one, only tests consistent with the largest agreeing group of
            references are kept (CodeT's dual agreement).
        n_tests: how many tests the prompt asks for.
        temperature, top_p, max_new_tokens, seed: sampling settings for the generator.
        prompt_template: a text file replacing PLUM's prompt; placeholders ``{instruction}``,
            ``{entry_point_hint}``, ``{n_tests}``.
        policy_prompt_template: a text file replacing the prompt shown to the policy for
            statements that name no function; placeholders ``{instruction}``, ``{signature}``,
            ``{entry_point}``, ``{example_test}``.

    Parameters that control validation:
        expected_values: ``tests`` keeps the expected values the generator wrote (PLUM: a test
            the reference fails is dropped); ``reference`` keeps the inputs of equality asserts
            and takes the expected values from running the references on them, clustered by
            output (``testgen.recompute``; for generators whose arithmetic cannot be trusted).
        min_tests: problems with fewer surviving tests are dropped.
        min_agreement: problems whose winning group of references (same tests passed; with
            ``expected_values="reference"``, same outputs) has fewer members are dropped
            (``no_agreement``): with several sampled references, a unanimous group is far more
            often right than a split vote (docs/testgen.md).
        time_limit: seconds per test when run against a reference.
        load_time_limit: seconds to load a reference program.
        chunk_size: problems per generation call and per sandbox batch (the log is written
            after each chunk, so this is also the most work an interruption loses).
    """

    __test__ = False  # not a pytest test class, despite the name

    n_references: int = field(
        default=1,
        metadata={
            "help": "responses (reference + tests) sampled per problem; >1 enables dual agreement"
        },
    )
    n_tests: int = field(default=10, metadata={"help": "tests asked for per response"})
    min_tests: int = field(default=3, metadata={"help": "drop problems with fewer surviving tests"})
    min_agreement: int = field(
        default=1,
        metadata={"help": "drop problems whose largest agreeing group has fewer references"},
    )
    temperature: float = field(
        default=0.0, metadata={"help": "generator temperature (use > 0 with n_references > 1)"}
    )
    top_p: float = field(default=0.95, metadata={"help": "generator nucleus sampling"})
    max_new_tokens: int = field(default=1536, metadata={"help": "tokens per generator response"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    prompt_template: str | None = field(
        default=None,
        metadata={
            "help": "file with a custom test-generation prompt ({instruction}, {entry_point_hint}, {n_tests})"
        },
    )
    policy_prompt_template: str | None = field(
        default=None,
        metadata={
            "help": "file with a custom policy prompt ({instruction}, {signature}, {entry_point}, {example_test})"
        },
    )
    expected_values: str = field(
        default="tests",
        metadata={
            "help": "'tests': trust the generator's expected values; 'reference': recompute them "
            "by running its references on the tests' inputs",
            "choices": list(EXPECTED_VALUES),
        },
    )
    time_limit: float = field(
        default=2.0, metadata={"help": "seconds per test against a reference"}
    )
    load_time_limit: float = field(
        default=10.0, metadata={"help": "seconds to load a reference program"}
    )
    chunk_size: int = field(
        default=16, metadata={"help": "problems per generation call and sandbox batch"}
    )

    def __post_init__(self) -> None:
        for name in ("n_references", "n_tests", "chunk_size", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.min_tests < 0:
            raise ValueError("min_tests must not be negative")
        if not 1 <= self.min_agreement <= self.n_references:
            raise ValueError("min_agreement must be between 1 and n_references")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
        if self.n_references > 1 and self.temperature == 0:
            raise ValueError(
                "n_references > 1 needs temperature > 0 (greedy responses are identical)"
            )
        if self.expected_values not in EXPECTED_VALUES:
            raise ValueError(
                f"expected_values must be one of {', '.join(EXPECTED_VALUES)}, got {self.expected_values!r}"
            )
        if self.time_limit <= 0 or self.load_time_limit <= 0:
            raise ValueError("time limits must be positive")

"""The demo's problem family: splits by step pairs, determinism, phrasings, names, and tests
that run in the real sandbox and tell right programs from wrong ones."""

from __future__ import annotations

import builtins
import itertools
import random

import pytest

from plum_exec.errors import PlumError
from plum_exec.jsonl import read_jsonl
from plum_exec.problems import load_problems_jsonl
from plum_exec.records import PASS
from plum_exec.sandbox import Job, Sandbox, SandboxConfig
from plumcode.demo.family import (
    GENERIC_NAMES,
    KINDS,
    LIST_INTROS,
    SPLITS,
    STRING_INTROS,
    FamilyConfig,
    ProblemFamily,
    Style,
    bind,
    composition_pairs,
    load_entry_point,
)
from plumcode.demo.sets import eval_problems, instruction_problems, write_problems


@pytest.fixture(scope="module")
def family() -> ProblemFamily:
    return ProblemFamily()


def test_splits_hold_out_pairs_of_steps(family: ProblemFamily) -> None:
    held = {name: {p for p, s in family.pair_split.items() if s == name} for name in SPLITS}
    comps = {name: family.compositions(name) for name in SPLITS}
    assert all(comps[name] for name in SPLITS)
    for comp in comps["seen"]:
        assert composition_pairs(comp) <= held["seen"]
    for comp in comps["instructions_only"]:
        pairs = composition_pairs(comp)
        assert pairs & held["instructions_only"] and not pairs & held["unseen"]
    for comp in comps["unseen"]:
        assert composition_pairs(comp) & held["unseen"]
    all_comps = [set(c) for c in comps.values()]
    for a, b in itertools.combinations(all_comps, 2):
        assert not a & b


def test_every_step_kind_is_learnable_from_seen_compositions(family: ProblemFamily) -> None:
    kinds_in_seen = {kind for comp in family.compositions("seen") for kind in comp}
    assert kinds_in_seen == set(KINDS)
    domains = {comp[0].split(".")[0] for comp in family.compositions("seen")}
    assert domains == {"list", "str"}


def test_same_seed_same_problems_other_seed_other_split() -> None:
    a = ProblemFamily(FamilyConfig(seed=3)).sample_problems("unseen", "eval", 20)
    b = ProblemFamily(FamilyConfig(seed=3)).sample_problems("unseen", "eval", 20)
    assert [(p.prompt, p.reference, p.tests) for p in a] == [(p.prompt, p.reference, p.tests) for p in b]
    assert ProblemFamily(FamilyConfig(seed=4)).pair_split != ProblemFamily(FamilyConfig(seed=3)).pair_split


def test_problems_are_phrased_and_named_in_several_ways(family: ProblemFamily) -> None:
    problems = family.sample_problems("seen", "train", 300, distinct=False)
    by_comp: dict[tuple[str, ...], set[str]] = {}
    for p in problems:
        by_comp.setdefault(tuple(p.metadata["composition"]), set()).add(p.prompt.split('"""')[1])
    assert any(len(texts) >= 2 for texts in by_comp.values())
    names = {p.entry_point for p in problems}
    assert {"solve", "f"} & names and any("_" in n for n in names)
    assert not {n for n in names if hasattr(builtins, n)}


def test_phrasings_limit_the_wordings_but_not_the_problems(family: ProblemFamily) -> None:
    rng = random.Random(0)
    steps = {s for _, i in family.sample_with_instances("seen", "train", 100, distinct=False) for s in i.steps}
    assert len({s.kind for s in steps}) > 20
    for step in steps:
        assert {step.phrase(rng, Style(phrasings=1)) for _ in range(20)} == {step.spec.phrasings[0].format(**dict(step.params))}
    narrow = family.sample_problems("seen", "train", 200, distinct=False, style=Style(phrasings=1))
    wide = family.sample_problems("seen", "train", 200, distinct=False)
    openings = (LIST_INTROS[0], STRING_INTROS[0], "Return ")
    assert all(p.prompt.split('"""')[1].startswith(openings) for p in narrow)
    assert not all(p.prompt.split('"""')[1].startswith(openings) for p in wide)
    assert [p.metadata["body"] for p in narrow] == [p.metadata["body"] for p in wide]


def test_rare_share_sets_how_often_the_other_wordings_appear() -> None:
    rng = random.Random(0)
    options = ("first", "second", "third")
    draws = [Style(phrasings=1, rare_share=0.2).choose(options, rng) for _ in range(2000)]
    assert 0.17 < sum(d != "first" for d in draws) / len(draws) < 0.23
    assert {d for d in draws if d != "first"} == {"second", "third"}
    assert {Style(phrasings=1).choose(options, rng) for _ in range(200)} == {"first"}


def test_name_words_set_the_length_of_descriptive_names(family: ProblemFamily) -> None:
    def word_counts(style: Style) -> set[int]:
        problems = family.sample_problems("seen", "train", 200, distinct=False, style=style)
        return {len(p.entry_point.split("_")) for p in problems if p.entry_point not in GENERIC_NAMES}

    assert word_counts(Style()) == {2}
    assert word_counts(Style(name_words=3)) == {2, 3}  # two-step problems have only two words


def test_eval_sets_and_instructions_are_disjoint_instances(family: ProblemFamily) -> None:
    instructions = instruction_problems(family, count=60, eval_count=80)
    evals = {split: eval_problems(family, split, 80) for split in SPLITS}
    bodies = [p.metadata["body"] for p in evals["instructions_only"]]
    assert len(set(bodies)) == len(bodies)
    assert not set(bodies) & {p.metadata["body"] for p in instructions}
    assert {p.metadata["split"] for p in instructions} == {"instructions_only"}
    for split, problems in evals.items():
        assert {p.metadata["split"] for p in problems} == {split}


def test_problem_files_load_and_instructions_carry_no_reference(family: ProblemFamily, tmp_path) -> None:
    instructions = instruction_problems(family, count=10, eval_count=10)
    write_problems(tmp_path / "instructions.jsonl", instructions, with_reference=False)
    write_problems(tmp_path / "seen.jsonl", eval_problems(family, "seen", 10), with_reference=True)
    assert all("canonical_solution" not in row for row in read_jsonl(tmp_path / "instructions.jsonl"))
    loaded = load_problems_jsonl(tmp_path / "seen.jsonl")
    first = next(iter(loaded.values()))
    assert first.reference is not None and first.reference.startswith(first.prompt)
    assert len(first.tests) >= FamilyConfig().tests_per_problem


def test_list_problems_test_each_constant_at_its_boundary(family: ProblemFamily) -> None:
    """Random lists often miss ``x > k`` written for "at least k"; the boundary test does not."""
    rng = random.Random(0)
    for _ in range(20):
        instance = bind(("list.ge", "list.count"), rng)
        k = instance.steps[0].params[0][1]
        problem = family.problem(instance, "t", rng)
        assert len(problem.tests) == FamilyConfig().tests_per_problem + 1
        assert problem.tests[-1].code.startswith(f"assert {problem.entry_point}({[k - 1, k, k + 1]!r}) == ")
        wrong = load_entry_point(problem.prompt + instance.body().replace(">=", ">"), problem.entry_point)
        with pytest.raises(AssertionError):
            exec(problem.tests[-1].code, {problem.entry_point: wrong})  # noqa: S102 - our own test line


def test_references_pass_in_the_sandbox_and_wrong_programs_fail(family: ProblemFamily) -> None:
    rng = random.Random(0)
    problems = [p for split in SPLITS for p in eval_problems(family, split, 15)]
    jobs = [Job(program=p.reference or "", tests=p.tests, entry_point=p.entry_point) for p in problems]
    # A wrong program: this problem's signature over the body of another problem of its domain.
    def domain(p):
        return p.metadata["composition"][0].split(".")[0]

    wrong = []
    for p in problems:
        others = [q for q in problems if domain(q) == domain(p) and q.metadata["body"] != p.metadata["body"]]
        body = rng.choice(others).metadata["body"]
        wrong.append(Job(program=p.prompt + body, tests=p.tests, entry_point=p.entry_point))
    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        results = dict(sandbox.run(jobs + wrong))
    right_ok = [all(o.status == PASS for o in results[i].outcomes) for i in range(len(jobs))]
    wrong_caught = [any(o.status != PASS for o in results[len(jobs) + i].outcomes) for i in range(len(wrong))]
    assert all(right_ok)
    assert sum(wrong_caught) >= 0.9 * len(wrong)


def test_unknown_split_is_a_one_line_error(family: ProblemFamily) -> None:
    with pytest.raises(PlumError, match="unknown demo split 'held_out'"):
        family.compositions("held_out")

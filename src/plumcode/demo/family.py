"""A procedural family of small programming problems over integer lists and strings.

Each problem is a pipeline of steps: for lists, a filter (one or two conditions), a map, a final
step (a reduction or the list itself); for strings, a keep step, a transform, a final step. A
problem's *composition* is the tuple of its step kinds (constants left out). Step kinds come
with several phrasings, so the same composition reads differently from instance to instance,
and the reference program writes one line per step.

Compositions are split by *pairs of step kinds*: a fixed, seeded choice of pairs is held out
for PLUM instructions only and another for nothing at all. A composition containing an
``unseen`` pair is ``unseen``; else one containing an ``instructions_only`` pair is
``instructions_only``; else it is ``seen``. So the policy can learn every step from ``seen``
compositions yet never see those particular combinations written out.

Everything is deterministic in the seed. Problems carry assert tests whose expected values come
from running the reference program (our own code, run in-process here).
"""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.records import Problem, TestCase

SPLITS = ("seen", "instructions_only", "unseen")


@dataclass(frozen=True)
class StepKind:
    """One kind of step: how it reads and the code line (or condition) it becomes.

    ``phrasings`` and ``code`` are templates over the step's constants ``{k}`` (and ``{a}``,
    ``{b}`` for replacements). ``short`` names the step in descriptive function names.
    """

    name: str
    slot: str
    phrasings: tuple[str, ...]
    code: str
    short: str
    constants: tuple[Any, ...] = ()
    noun: str = ""  # final steps only: "the sum of" in "Return the sum of the numbers that are ..."


# --- integer lists: filter conditions, maps, finals ------------------------------------------
_SMALL = tuple(range(1, 10))
_DIVISORS = (3, 4, 5, 6, 7)
_FACTORS = (2, 3, 4, 5)

LIST_CONDITIONS = (
    StepKind("even", "cond", ("even", "divisible by 2"), "x % 2 == 0", "even"),
    StepKind("odd", "cond", ("odd", "not divisible by 2"), "x % 2 == 1", "odd"),
    StepKind("positive", "cond", ("positive", "greater than zero"), "x > 0", "positive"),
    StepKind("negative", "cond", ("negative", "less than zero"), "x < 0", "negative"),
    StepKind("gt", "cond", ("greater than {k}", "larger than {k}", "above {k}"), "x > {k}", "big", _SMALL),
    StepKind("lt", "cond", ("less than {k}", "smaller than {k}", "below {k}"), "x < {k}", "small", _SMALL),
    StepKind("ge", "cond", ("at least {k}", "greater than or equal to {k}"), "x >= {k}", "large", _SMALL),
    StepKind("le", "cond", ("at most {k}", "less than or equal to {k}"), "x <= {k}", "low", _SMALL),
    StepKind("div", "cond", ("divisible by {k}", "a multiple of {k}"), "x % {k} == 0", "multiple", _DIVISORS),
    StepKind("ndiv", "cond", ("not divisible by {k}", "not a multiple of {k}"), "x % {k} != 0", "nonmultiple", _DIVISORS),
    StepKind("ne", "cond", ("different from {k}", "not equal to {k}"), "x != {k}", "other", _SMALL),
)

LIST_MAPS = (
    StepKind("add", "map", ("add {k} to each number", "increase every element by {k}", "add {k} to every value"), "x + {k}", "plus", _SMALL),
    StepKind("sub", "map", ("subtract {k} from each number", "decrease every element by {k}"), "x - {k}", "minus", _SMALL),
    StepKind("mul", "map", ("multiply each number by {k}", "scale every element by {k}"), "x * {k}", "times", _FACTORS),
    StepKind("square", "map", ("square each number", "replace every element by its square", "multiply each value by itself"), "x * x", "squared"),
    StepKind("negate", "map", ("negate each number", "flip the sign of every element"), "-x", "negated"),
    StepKind("abs", "map", ("take the absolute value of each number", "replace every element by its absolute value"), "abs(x)", "absolute"),
    StepKind("mod", "map", ("replace each number by its remainder modulo {k}", "take every element modulo {k}"), "x % {k}", "mod", _DIVISORS),
    StepKind("halve", "map", ("divide each number by 2, rounding down", "halve every element, rounding down"), "x // 2", "halved"),
)

LIST_FINALS = (
    StepKind("sum", "final", ("return their sum", "return the total", "return the sum of what is left"), "sum(ys)", "sum", noun="the sum of"),
    StepKind("count", "final", ("return how many there are", "return the number of elements", "return the count"), "len(ys)", "count", noun="the number of"),
    StepKind("max", "final", ("return the largest one, or 0 if there are none", "return the maximum, or 0 for an empty result"), "max(ys, default=0)", "max"),
    StepKind("min", "final", ("return the smallest one, or 0 if there are none", "return the minimum, or 0 for an empty result"), "min(ys, default=0)", "min"),
    StepKind("list", "final", ("return the resulting list", "return them as a list", "return the list"), "ys", "list", noun="the list of"),
    StepKind("sorted", "final", ("return them sorted in increasing order", "return the result sorted from smallest to largest"), "sorted(ys)", "sorted"),
    StepKind("reversed", "final", ("return them in reverse order", "return the list reversed"), "ys[::-1]", "reversed"),
    StepKind("first", "final", ("return the first one, or -1 if there is none", "return the first element, or -1 if the result is empty"), "ys[0] if ys else -1", "first"),
    StepKind("last", "final", ("return the last one, or -1 if there is none", "return the last element, or -1 if the result is empty"), "ys[-1] if ys else -1", "last"),
    StepKind("distinct", "final", ("return how many distinct values there are", "return the number of different values"), "len(set(ys))", "distinct", noun="the number of distinct values among"),
)

# --- strings: keep steps, transforms, finals -------------------------------------------------
_LETTERS = tuple("abcdeilmnorst")
_VOWELS = "aeiouAEIOU"

STRING_KEEPS = (
    StepKind("vowels", "keep", ("keep only the vowels", "remove everything except the vowels"), f'c in "{_VOWELS}"', "vowel"),
    StepKind("consonants", "keep", ("keep only the consonants", "remove everything except the consonants"), f'c.isalpha() and c not in "{_VOWELS}"', "consonant"),
    StepKind("digits", "keep", ("keep only the digits", "remove everything except the digits", "keep the numeric characters"), "c.isdigit()", "digit"),
    StepKind("letters", "keep", ("keep only the letters", "remove everything except the letters", "keep the alphabetic characters"), "c.isalpha()", "letter"),
    StepKind("upper", "keep", ("keep only the uppercase letters", "keep the capital letters"), "c.isupper()", "capital"),
    StepKind("lower", "keep", ("keep only the lowercase letters", "keep the small letters"), "c.islower()", "lowercase"),
    StepKind("nospace", "keep", ("remove the spaces", "delete every space"), 'c != " "', "nospace"),
    StepKind("nochar", "keep", ("remove every '{k}'", "delete all occurrences of '{k}'"), 'c != "{k}"', "without", _LETTERS),
    StepKind("alnum", "keep", ("keep only the letters and digits", "keep the alphanumeric characters"), "c.isalnum()", "alnum"),
)

STRING_TRANSFORMS = (
    StepKind("toupper", "transform", ("convert it to uppercase", "make every letter uppercase"), "t.upper()", "upper"),
    StepKind("tolower", "transform", ("convert it to lowercase", "make every letter lowercase"), "t.lower()", "lower"),
    StepKind("reverse", "transform", ("reverse it", "reverse the order of the characters"), "t[::-1]", "reversed"),
    StepKind("swapcase", "transform", ("swap the case of every letter", "turn uppercase letters into lowercase and lowercase into uppercase"), "t.swapcase()", "swapped"),
    StepKind("replace", "transform", ("replace every '{a}' with '{b}'", "change each '{a}' into '{b}'"), 't.replace("{a}", "{b}")', "replaced", _LETTERS),
    StepKind("double", "transform", ("double every character", "repeat each character twice"), '"".join(c + c for c in t)', "doubled"),
    StepKind("sortchars", "transform", ("sort the characters", "put the characters in sorted order"), '"".join(sorted(t))', "sorted"),
)

STRING_FINALS = (
    StepKind("string", "final", ("return the result", "return the new string", "return what remains"), "t", "text"),
    StepKind("length", "final", ("return its length", "return how many characters remain", "return the number of characters"), "len(t)", "length"),
    StepKind("countchar", "final", ("return how many times '{k}' appears", "return the number of '{k}' characters"), 't.count("{k}")', "count", _LETTERS),
    StepKind("distinctchars", "final", ("return the number of distinct characters", "return how many different characters there are"), "len(set(t))", "distinct"),
    StepKind("firstchar", "final", ("return its first character, or an empty string if it is empty",), "t[:1]", "first"),
    StepKind("palindrome", "final", ("return whether it reads the same backwards", "return True if it is a palindrome and False otherwise"), "t == t[::-1]", "palindrome"),
)

KINDS: dict[str, StepKind] = {
    f"{domain}.{k.name}": k
    for domain, group in (
        ("list", LIST_CONDITIONS + LIST_MAPS + LIST_FINALS),
        ("str", STRING_KEEPS + STRING_TRANSFORMS + STRING_FINALS),
    )
    for k in group
}

# Two conditions that make the filter trivially empty or full under "and"/"or" are not paired.
_CONTRADICTORY = {frozenset({"list.even", "list.odd"}), frozenset({"list.positive", "list.negative"})}

GENERIC_NAMES = ("solve", "compute", "process", "calc", "answer", "f")
LIST_INTROS = ("Given a list of integers xs, ", "For the list xs, ", "Take the integer list xs: ", "")
STRING_INTROS = ("Given a string s, ", "For the string s, ", "Take the string s: ", "")


@dataclass(frozen=True)
class Step:
    """A step kind with its constants bound, e.g. ``list.gt`` with ``k=3``; ``variant``, when set,
    is another code template for it (the training script's buggy programs)."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()
    variant: str | None = None

    @property
    def spec(self) -> StepKind:
        return KINDS[self.kind]

    def code(self) -> str:
        return (self.variant or self.spec.code).format(**dict(self.params))

    def phrase(self, rng: random.Random, style: Style) -> str:
        return style.choose(self.spec.phrasings, rng).format(**dict(self.params))


@dataclass(frozen=True)
class Style:
    """How problems are worded: the first ``phrasings`` wordings of each step and opening (None:
    all), the others only with probability ``rare_share``; descriptive function names of up to
    ``name_words`` step words. The demo's sets use the default; the training script can pretrain
    the policy on another style (docs/demo.md)."""

    phrasings: int | None = None
    rare_share: float = 0.0
    name_words: int = 2

    def choose(self, options: tuple[str, ...], rng: random.Random) -> str:
        if self.phrasings is None:
            return rng.choice(options)  # one draw, so the default style's problems never change
        common, rare = options[: self.phrasings], options[self.phrasings :]
        if rare and self.rare_share and rng.random() < self.rare_share:
            return rng.choice(rare)
        return rng.choice(common)


DEFAULT_STYLE = Style()


@dataclass(frozen=True)
class Instance:
    """One problem before phrasing: its domain, steps (conditions, map/transform, final) and joiner."""

    domain: str
    conditions: tuple[Step, ...]
    middle: Step | None
    final: Step
    joiner: str = "and"  # how two filter conditions combine

    @property
    def steps(self) -> tuple[Step, ...]:
        return (*self.conditions, *([self.middle] if self.middle else []), self.final)

    @property
    def constants(self) -> tuple[Any, ...]:
        """The values bound in the steps, in step order (``k``, or ``a`` and ``b``)."""
        return tuple(v for s in self.steps for _, v in s.params)

    @property
    def composition(self) -> tuple[str, ...]:
        return tuple(s.kind for s in self.steps)

    def body(self) -> str:
        """The reference body: one line per step (this is also the instance's identity)."""
        if self.domain == "list":
            lines = []
            if self.conditions:
                cond = f" {self.joiner} ".join(s.code() for s in self.conditions)
                lines.append(f"ys = [x for x in xs if {cond}]")
            else:
                lines.append("ys = xs")
            if self.middle is not None:
                lines.append(f"ys = [{self.middle.code()} for x in ys]")
        else:
            lines = [f't = "".join(c for c in s if {self.conditions[0].code()})' if self.conditions else "t = s"]
            if self.middle is not None:
                lines.append(f"t = {self.middle.code()}")
        lines.append(f"return {self.final.code()}")
        return "".join(f"    {line}\n" for line in lines)


def composition_pairs(composition: tuple[str, ...]) -> set[frozenset[str]]:
    """The unordered pairs of distinct step kinds in a composition (the unit of holding out)."""
    return {frozenset(p) for p in itertools.combinations(composition, 2) if p[0] != p[1]}


@dataclass
class FamilyConfig:
    """How the problem family is split and how its tests look."""

    seed: int = field(default=0, metadata={"help": "Seed for the split of step pairs and for instances."})
    instructions_only_fraction: float = field(
        default=0.15, metadata={"help": "Share of step pairs held out for PLUM instructions only."}
    )
    unseen_fraction: float = field(default=0.12, metadata={"help": "Share of step pairs held out from everything."})
    tests_per_problem: int = field(default=8, metadata={"help": "Random tests per problem (expected values from the reference); list problems also get one test per constant."})


class ProblemFamily:
    """The family for one seed: which step pairs belong to which split, and problem generation."""

    def __init__(self, config: FamilyConfig | None = None):
        self.config = config or FamilyConfig()
        self.pair_split = self._split_pairs()

    def _split_pairs(self) -> dict[frozenset[str], str]:
        pairs = sorted(
            {pair for domain in ("list", "str") for comp in _all_compositions(domain) for pair in composition_pairs(comp)},
            key=lambda p: sorted(p),
        )
        rng = random.Random(f"pairs:{self.config.seed}")
        rng.shuffle(pairs)
        n_io = round(len(pairs) * self.config.instructions_only_fraction)
        n_unseen = round(len(pairs) * self.config.unseen_fraction)
        split = {p: "seen" for p in pairs}
        split.update({p: "instructions_only" for p in pairs[:n_io]})
        split.update({p: "unseen" for p in pairs[n_io : n_io + n_unseen]})
        return split

    def split_of(self, composition: tuple[str, ...]) -> str:
        splits = {self.pair_split[p] for p in composition_pairs(composition)}
        for name in ("unseen", "instructions_only"):
            if name in splits:
                return name
        return "seen"

    def compositions(self, split: str) -> list[tuple[str, ...]]:
        if split not in SPLITS:
            raise PlumError(f"unknown demo split {split!r}; expected one of {', '.join(SPLITS)}")
        return [c for d in ("list", "str") for c in _all_compositions(d) if self.split_of(c) == split]

    def instances(self, split: str, stream: str) -> Iterator[Instance]:
        """An endless, deterministic stream of random instances of ``split``'s compositions.

        ``stream`` names an independent random stream ("train", "instructions", "eval"), so sets
        drawn from different streams can be made disjoint by their reference bodies.
        """
        # Draw a domain and a shape (number of steps per slot) first, then a composition of
        # that shape: drawing compositions uniformly would make almost every problem a long
        # list pipeline (two-condition filters outnumber everything else).
        groups: dict[tuple[str, int], list[tuple[str, ...]]] = {}
        for comp in self.compositions(split):
            groups.setdefault((comp[0].split(".")[0], len(comp)), []).append(comp)
        keys = sorted(groups)
        rng = random.Random(f"instances:{self.config.seed}:{split}:{stream}")
        while True:
            yield bind(rng.choice(groups[rng.choice(keys)]), rng)

    def problem(self, instance: Instance, task_id: str, rng: random.Random, style: Style = DEFAULT_STYLE) -> Problem:
        """Phrase an instance in ``style``, name its function and attach tests computed with the reference."""
        name = _function_name(instance, rng, style.name_words)
        arg = "xs" if instance.domain == "list" else "s"
        prompt = f'def {name}({arg}):\n    """{_describe(instance, rng, style)}"""\n'
        reference = prompt + instance.body()
        inputs = _test_inputs(instance, rng, self.config.tests_per_problem)
        func = load_entry_point(reference, name)
        # Assertions, because the custom problems JSONL (how the loop reads problem sets) holds those.
        tests = [TestCase(kind="assert", code=f"assert {name}({x!r}) == {func(x)!r}") for x in inputs]
        return Problem(
            task_id=task_id,
            prompt=prompt,
            entry_point=name,
            tests=tests,
            reference=reference,
            metadata={
                "split": self.split_of(instance.composition),
                "composition": list(instance.composition),
                "body": instance.body(),
            },
        )

    def sample_problems(self, split: str, stream: str, count: int, *, exclude: set[str] = frozenset(),
                        distinct: bool = True, style: Style = DEFAULT_STYLE) -> list[Problem]:
        """``count`` problems of ``split``, none with a reference body in ``exclude``; with
        ``distinct`` no two share a body (evaluation sets), else bodies repeat with new phrasings
        (training data)."""
        return [
            p
            for p, _ in self.sample_with_instances(split, stream, count, exclude=exclude, distinct=distinct, style=style)
        ]

    def sample_with_instances(self, split: str, stream: str, count: int, *, exclude: set[str] = frozenset(),
                              distinct: bool = True, style: Style = DEFAULT_STYLE) -> list[tuple[Problem, Instance]]:
        rng = random.Random(f"phrasing:{self.config.seed}:{split}:{stream}")
        skip = set(exclude)
        out: list[tuple[Problem, Instance]] = []
        for instance in self.instances(split, stream):
            if len(out) == count:
                return out
            body = instance.body()
            if body in skip:
                continue
            if distinct:
                skip.add(body)
            out.append((self.problem(instance, f"demo/{split}/{stream}/{len(out)}", rng, style), instance))
        raise AssertionError("unreachable: instance streams are endless")


def _all_compositions(domain: str) -> list[tuple[str, ...]]:
    """Every composition of a domain: 0-2 conditions (lists) or 0-1 keep, 0-1 middle, 1 final, >= 2 steps."""
    kinds = [name for name in KINDS if name.startswith(domain + ".")]
    firsts = [n for n in kinds if KINDS[n].slot in ("cond", "keep")]
    middles = [n for n in kinds if KINDS[n].slot in ("map", "transform")]
    finals = [n for n in kinds if KINDS[n].slot == "final"]
    heads: list[tuple[str, ...]] = [()] + [(f,) for f in firsts]
    if domain == "list":
        heads += [pair for pair in itertools.combinations(firsts, 2) if frozenset(pair) not in _CONTRADICTORY]
    comps = []
    for head in heads:
        for middle in [()] + [(m,) for m in middles]:
            for final in finals:
                comp = head + middle + (final,)
                if len(comp) >= 2:
                    comps.append(comp)
    return comps


def bind(composition: tuple[str, ...], rng: random.Random) -> Instance:
    """An instance of ``composition`` with constants and the conditions' joiner drawn from ``rng``."""
    domain = composition[0].split(".")[0]
    steps = [_bind_step(kind, rng) for kind in composition]
    heads = [s for s in steps if s.spec.slot in ("cond", "keep")]
    middles = [s for s in steps if s.spec.slot in ("map", "transform")]
    return Instance(domain, tuple(heads), middles[0] if middles else None, steps[-1], rng.choice(("and", "or")))


def _bind_step(kind: str, rng: random.Random) -> Step:
    spec = KINDS[kind]
    if not spec.constants:
        return Step(kind)
    if "{a}" in spec.code:
        a, b = rng.sample(spec.constants, 2)
        return Step(kind, (("a", a), ("b", b)))
    return Step(kind, (("k", rng.choice(spec.constants)),))


def _describe(instance: Instance, rng: random.Random, style: Style) -> str:
    """The docstring: a sentence made of one phrasing per step."""
    if instance.domain == "list":
        intro = style.choose(LIST_INTROS, rng)
        nested = instance.middle is None and instance.conditions and instance.final.spec.noun
        if nested and rng.random() < 0.5:
            # "Return the sum of the numbers in xs that are even and greater than 3."
            return f"Return {instance.final.spec.noun} the numbers in xs that are {_conditions_phrase(instance, rng, style)}."
        clauses = [f"keep the numbers that are {_conditions_phrase(instance, rng, style)}"] if instance.conditions else []
    else:
        intro = style.choose(STRING_INTROS, rng)
        clauses = [instance.conditions[0].phrase(rng, style)] if instance.conditions else []
    if instance.middle is not None:
        clauses.append(instance.middle.phrase(rng, style))
    clauses.append(instance.final.phrase(rng, style))
    sentence = ", then ".join(clauses[:-1]) + ", and " + clauses[-1] if len(clauses) > 2 else " and ".join(clauses)
    text = intro + sentence + "."
    return text[0].upper() + text[1:]


def _conditions_phrase(instance: Instance, rng: random.Random, style: Style) -> str:
    return f" {instance.joiner} ".join(s.phrase(rng, style) for s in instance.conditions)


def _function_name(instance: Instance, rng: random.Random, words: int = 2) -> str:
    """A generic name, or a descriptive one: the final step's word and the first steps' words
    (``sum_even``). Two words by default: never one, so it never shadows a builtin such as
    ``sum``; no more, because small models miscopy long names (the test generator must repeat it)."""
    if rng.random() < 0.5:
        return rng.choice(GENERIC_NAMES)
    final, first = instance.final.spec.short, instance.steps[0].spec.short
    parts = [final, first if first != final else instance.domain]
    for step in instance.steps[1:-1]:
        if len(parts) < words and step.spec.short not in parts:
            parts.append(step.spec.short)
    return "_".join(parts)


def _test_inputs(instance: Instance, rng: random.Random, count: int) -> list[Any]:
    """Random inputs, the first one empty, with the step constants mixed into strings; lists
    also get each integer constant with its neighbours (``[k - 1, k, k + 1]``), where random
    lists often miss the difference between ``x > k`` and ``x >= k``."""
    if instance.domain == "list":
        lists: list[Any] = [[]]
        while len(lists) < count:
            lists.append([rng.randint(-9, 15) for _ in range(rng.randint(1, 8))])
        constants = dict.fromkeys(v for v in instance.constants if isinstance(v, int))
        return lists + [[k - 1, k, k + 1] for k in constants]
    special = "".join(str(v) for v in instance.constants)
    alphabet = string.ascii_lowercase[:8] + "AEIXYZ" + "0123" + "  " + special * 3
    texts: list[Any] = [""]
    while len(texts) < count:
        texts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))))
    return texts


def load_entry_point(program: str, entry_point: str) -> Any:
    """Run our own reference program in-process to read expected outputs (trusted code)."""
    namespace: dict[str, Any] = {}
    exec(program, namespace)  # noqa: S102 - the family's reference, not model output
    return namespace[entry_point]

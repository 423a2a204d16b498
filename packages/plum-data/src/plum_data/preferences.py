"""Stage 3a: executed samples -> preference data in TRL's columns.

PLUM's rule labels each on-policy sample by its synthesized tests: all pass -> desirable, any
fail -> undesirable. The training text is the policy's own raw response (on-policy), not the
extracted program. Outputs, in ``out_dir``:

- ``kto.jsonl``: ``prompt``, ``completion``, ``label`` (TRL's unpaired preference format),
- ``dpo.jsonl``: ``prompt``, ``chosen``, ``rejected`` (TRL's preference format),
- ``stats.json``: counts, label balance and the KTO loss weights ``plum train`` picks up.

Rows are conversational (lists of ``{"role", "content"}``) when the policy has a chat template,
plain strings otherwise, as TRL's dataset-format docs define them. The prompt is the one the
policy answered: ``metadata.prompt`` of the sample row when sampling recorded it, else what
``plum sample`` sends with its default prompt settings. Extra columns (``task_id``, sample ids)
keep every row traceable to its sample; the trainers drop them.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from plum_data.generation import Message, Prompt
from plum_data.prompts import PromptConfig, chat_prompt
from plum_exec.cards import StageCard
from plum_exec.datasets_io import ConfigData
from plum_exec.errors import PlumError
from plum_exec.jsonl import read_jsonl, require, write_json, write_jsonl
from plum_exec.problems import load_problems_jsonl
from plum_exec.records import INFRA_ERROR, PASS, STATUSES, Sample, SampleResult
from plum_exec.sources import model_source

KTO_FILE = "kto.jsonl"
DPO_FILE = "dpo.jsonl"
STATS_FILE = "stats.json"
_PROMPT = "the prompt the policy answered: a string (standard) or chat messages (conversational)"
KTO_COLUMNS = {
    "prompt": _PROMPT,
    "completion": "the policy's own response (on-policy): a string, or one assistant message",
    "label": "true: every synthesized test passed (desirable); false: some test failed",
    "task_id": "problem id",
    "sample_id": "sample id within the problem (joins the samples and results datasets)",
    "pass_fraction": "fraction of the problem's tests the sample passed",
}
DPO_COLUMNS = {
    "prompt": _PROMPT,
    "chosen": "a response that passed every test",
    "rejected": "a response to the same prompt that failed a test",
    "task_id": "problem id",
    "chosen_id": "sample id of the chosen response",
    "rejected_id": "sample id of the rejected response",
}

# KTO paper, Eq. 8 (as TRL's KTO docs state it): desirable_weight * n_desirable over
# undesirable_weight * n_undesirable should lie in [1, 4/3]. We aim at the middle of that range.
KTO_RATIO_RANGE = (1.0, 4 / 3)
KTO_TARGET_RATIO = 7 / 6


@dataclass
class PrefsConfig:
    """How executed samples become KTO/DPO training data.

    > Parameters that control labels

    pass_threshold: a sample is desirable when at least this fraction of its synthesized tests
        pass. 1.0 is PLUM's rule (every test passes).

    > Parameters that control which samples are kept

    dedup, max_per_problem, kto_drop_uniform: see field help. DPO never has pairs for problems
        where every sample passes or every sample fails; KTO can still learn from them.

    > Parameters that control the balance

    balance: ``weights`` (default) keeps every row and sets KTO's ``desirable_weight`` /
        ``undesirable_weight`` per the KTO paper's rule (see ``kto_weights``); ``downsample``
        drops random rows of the majority label; ``none`` leaves both alone.
    shuffle: TRL's KTOTrainer samples sequentially and estimates its KL term from the other
        completions in the same batch, so rows grouped by problem or label give one-label,
        one-problem batches. Shuffling mixes them.
    """

    format: Literal["auto", "conversational", "standard"] = field(
        default="auto",
        metadata={
            "help": "row format: conversational (role/content messages) or standard (plain strings); "
            "auto = conversational iff --model's tokenizer has a chat template",
            "choices": ["auto", "conversational", "standard"],
        },
    )
    model: str | None = field(
        default=None,
        metadata={"help": "policy model folder whose chat template decides format=auto"},
    )
    pass_threshold: float = field(
        default=1.0,
        metadata={
            "help": "fraction of synthesized tests a sample must pass to be desirable (1.0 = PLUM: all)"
        },
    )
    dedup: bool = field(
        default=True,
        metadata={
            "help": "keep one sample per identical program (same code up to blank lines and trailing spaces)"
        },
    )
    max_per_problem: int | None = field(
        default=None,
        metadata={
            "help": "at most this many KTO rows and DPO pairs per problem (labels alternate, so both survive)"
        },
    )
    kto_drop_uniform: bool = field(
        default=False,
        metadata={"help": "also drop from KTO the problems where all or none of the samples pass"},
    )
    balance: Literal["weights", "downsample", "none"] = field(
        default="weights",
        metadata={
            "help": "KTO label balance: weights (set desirable/undesirable_weight from the counts), "
            "downsample (drop majority rows), none",
            "choices": ["weights", "downsample", "none"],
        },
    )
    shuffle: bool = field(
        default=True,
        metadata={"help": "shuffle rows so KTO's sequential batches mix labels and problems"},
    )
    seed: int = field(default=0, metadata={"help": "seed for shuffling, capping and downsampling"})

    def __post_init__(self) -> None:
        if self.format not in ("auto", "conversational", "standard"):
            raise ValueError(
                f"format must be auto, conversational or standard, got {self.format!r}"
            )
        if self.balance not in ("weights", "downsample", "none"):
            raise ValueError(f"balance must be weights, downsample or none, got {self.balance!r}")
        if not 0.0 < self.pass_threshold <= 1.0:
            raise ValueError(f"pass_threshold must be in (0, 1], got {self.pass_threshold}")
        if self.max_per_problem is not None and self.max_per_problem < 1:
            raise ValueError(f"max_per_problem must be >= 1, got {self.max_per_problem}")


@dataclass
class LabeledSample:
    """One executed, usable sample of a problem with its verdict."""

    sample: Sample
    pass_fraction: float
    desirable: bool


def build_preferences(
    problems_path: str | Path,
    samples_path: str | Path,
    results_path: str | Path,
    out_dir: str | Path,
    config: PrefsConfig | None = None,
) -> dict[str, Any]:
    """Write ``kto.jsonl``, ``dpo.jsonl`` and ``stats.json`` to ``out_dir``; return the stats."""
    config = config or PrefsConfig()
    prompts = {task_id: p.prompt for task_id, p in load_problems_jsonl(problems_path).items()}
    samples = _read_samples(samples_path, prompts)
    results = _read_results(results_path, samples)
    conversational = _is_conversational(config)

    stats: Counter[str] = Counter(problems=len(prompts), samples=len(samples))
    keys_by_task: dict[str, list[tuple[str, int]]] = {}
    for key in sorted(samples):
        keys_by_task.setdefault(key[0], []).append(key)
    kto_rows: list[dict[str, Any]] = []
    dpo_rows: list[dict[str, Any]] = []
    for task_id, prompt in prompts.items():
        labeled = _label_samples(keys_by_task.get(task_id, []), samples, results, config, stats)
        if not labeled:
            continue
        rng = random.Random(f"{config.seed}:{task_id}")  # per problem: independent of the others
        kind = _problem_kind(labeled)
        stats[f"problems_{kind}"] += 1
        if not (kind != "mixed" and config.kto_drop_uniform):
            kto_rows += [
                _kto_row(prompt, s, conversational) for s in _cap_kto(labeled, config, rng)
            ]
        dpo_rows += [
            _dpo_row(prompt, c.sample, r.sample, conversational)
            for c, r in _pairs(labeled, config, rng)
        ]

    rng = random.Random(config.seed)
    if config.balance == "downsample":
        kto_rows = _downsample(kto_rows, rng)
    if config.shuffle:
        rng.shuffle(kto_rows)
        rng.shuffle(dpo_rows)

    out_dir = Path(out_dir)
    write_jsonl(out_dir / KTO_FILE, kto_rows)
    write_jsonl(out_dir / DPO_FILE, dpo_rows)
    summary = _summarize(stats, kto_rows, dpo_rows, config, conversational)
    write_json(out_dir / STATS_FILE, summary)
    return summary


def kto_weights(n_desirable: int, n_undesirable: int) -> dict[str, float]:
    """KTO's loss weights from label counts (KTO paper, Eq. 8; TRL's KTO docs).

    The ratio ``(dw * n_desirable) / (uw * n_undesirable)`` should lie in [1, 4/3]. Counts already
    in range keep both weights at 1; otherwise the majority label is down-weighted to hit the
    middle of the range, so no weight grows past 1 and the learning rate keeps its meaning.
    """
    if n_desirable == 0 or n_undesirable == 0:
        return {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    ratio = n_desirable / n_undesirable
    if KTO_RATIO_RANGE[0] <= ratio <= KTO_RATIO_RANGE[1]:
        return {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    if ratio > KTO_RATIO_RANGE[1]:
        return {"desirable_weight": KTO_TARGET_RATIO / ratio, "undesirable_weight": 1.0}
    return {"desirable_weight": 1.0, "undesirable_weight": ratio / KTO_TARGET_RATIO}


# --- reading and joining the three inputs -------------------------------------------------------


def _read_samples(path: str | Path, prompts: dict[str, str]) -> dict[tuple[str, int], Sample]:
    samples: dict[tuple[str, int], Sample] = {}
    for lineno, row in enumerate(read_jsonl(path), start=1):
        where = f"{path}:{lineno}"
        key = (require(row, "task_id", where, str), require(row, "sample_id", where, int))
        if key[0] not in prompts:
            raise PlumError(f"{where}: task_id {key[0]!r} is not in the problems file")
        if key in samples:
            raise PlumError(f"{where}: duplicate sample {key[0]!r}/{key[1]}")
        _check_recorded_prompt(row, where)
        samples[key] = Sample(
            task_id=key[0],
            sample_id=key[1],
            solution=require(row, "solution", where, str),
            response=require(row, "response", where, str),
            metadata=row.get("metadata") or {},
        )
    return samples


def _read_results(
    path: str | Path, samples: dict[tuple[str, int], Sample]
) -> dict[tuple[str, int], SampleResult]:
    results: dict[tuple[str, int], SampleResult] = {}
    for lineno, row in enumerate(read_jsonl(path), start=1):
        where = f"{path}:{lineno}"
        key = (require(row, "task_id", where, str), require(row, "sample_id", where, int))
        if require(row, "base_status", where, str) not in STATUSES:
            raise PlumError(f"{where}: unknown base_status {row['base_status']!r}")
        if key not in samples:
            raise PlumError(f"{where}: no sample {key[0]!r}/{key[1]} in the samples file")
        if key in results:
            raise PlumError(f"{where}: duplicate result for {key[0]!r}/{key[1]}")
        try:
            results[key] = SampleResult.from_dict(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlumError(f"{where}: bad result row ({exc})") from None
    return results


def _check_recorded_prompt(row: dict[str, Any], where: str) -> None:
    """``metadata.prompt``, when sampling recorded it, must be a generator prompt."""
    prompt = (row.get("metadata") or {}).get("prompt")
    if prompt is None or isinstance(prompt, str):
        return
    if isinstance(prompt, list) and all(
        isinstance(m, dict) and {"role", "content"} <= m.keys() for m in prompt
    ):
        return
    raise PlumError(
        f"{where}: metadata.prompt must be a string or a list of {{role, content}} messages"
    )


def _is_conversational(config: PrefsConfig) -> bool:
    if config.format != "auto":
        return config.format == "conversational"
    if config.model is None:
        raise PlumError(
            "format=auto needs --model (its chat template decides the format); or set --format"
        )
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_source(config.model))
    except (OSError, ValueError) as exc:
        raise PlumError(
            f"model {config.model!r}: cannot load its tokenizer ({str(exc).splitlines()[0]})"
        ) from None
    return tokenizer.chat_template is not None


# --- labels, caps and pairs --------------------------------------------------------------------


def _label_samples(
    keys: list[tuple[str, int]],
    samples: dict[tuple[str, int], Sample],
    results: dict[tuple[str, int], SampleResult],
    config: PrefsConfig,
    stats: Counter[str],
) -> list[LabeledSample]:
    """A problem's executed samples with labels, in sample order, minus infra errors and duplicates."""
    labeled: list[LabeledSample] = []
    seen_programs: set[str] = set()
    for key in keys:
        result = results.get(key)
        if result is None:
            stats["samples_not_executed"] += 1
            continue
        if _has_infra_error(result):
            stats["samples_infra_error"] += 1
            continue
        program = _normalized_program(samples[key].solution)
        if config.dedup and program in seen_programs:
            stats["samples_duplicate"] += 1
            continue
        seen_programs.add(program)
        fraction = _pass_fraction(result)
        labeled.append(LabeledSample(samples[key], fraction, fraction >= config.pass_threshold))
    return labeled


def _problem_kind(labeled: list[LabeledSample]) -> str:
    n_pass = sum(s.desirable for s in labeled)
    return "all_pass" if n_pass == len(labeled) else "none_pass" if n_pass == 0 else "mixed"


def _has_infra_error(result: SampleResult) -> bool:
    return result.has_infra_error or any(o.status == INFRA_ERROR for o in result.base_outcomes)


def _pass_fraction(result: SampleResult) -> float:
    """Fraction of synthesized (base) tests passed; the overall status when no per-test verdicts exist."""
    if not result.base_outcomes:
        return 1.0 if result.base_status == PASS else 0.0
    return sum(o.status == PASS for o in result.base_outcomes) / len(result.base_outcomes)


def _normalized_program(solution: str) -> str:
    return "\n".join(line.rstrip() for line in solution.splitlines() if line.strip())


def _cap_kto(
    labeled: list[LabeledSample], config: PrefsConfig, rng: random.Random
) -> list[LabeledSample]:
    """Alternate labels (random order within each) so a cap keeps both labels of a mixed problem."""
    if config.max_per_problem is None:
        return labeled
    good = [s for s in labeled if s.desirable]
    bad = [s for s in labeled if not s.desirable]
    rng.shuffle(good)
    rng.shuffle(bad)
    interleaved = [s for pair in zip(good, bad, strict=False) for s in pair]
    longer = good if len(good) > len(bad) else bad
    interleaved += longer[min(len(good), len(bad)) :]
    return interleaved[: config.max_per_problem]


def _pairs(
    labeled: list[LabeledSample], config: PrefsConfig, rng: random.Random
) -> list[tuple[LabeledSample, LabeledSample]]:
    """All (chosen, rejected) pairs, ordered so that any prefix uses every sample about equally.

    Pair ``k`` takes item ``k mod S`` of the shorter list and ``(k + k // lcm(S, L)) mod L`` of
    the longer: both lists are walked round-robin, and the shift after each ``lcm`` block makes
    the ``S * L`` pairs the whole cross product, each once. A cap keeps a prefix.
    """
    good = [s for s in labeled if s.desirable]
    bad = [s for s in labeled if not s.desirable]
    rng.shuffle(good)
    rng.shuffle(bad)
    short, long_ = (good, bad) if len(good) <= len(bad) else (bad, good)
    if not short:
        return []
    cycle = math.lcm(len(short), len(long_))
    pairs = []
    for k in range(len(short) * len(long_)):
        s, other = short[k % len(short)], long_[(k + k // cycle) % len(long_)]
        pairs.append((s, other) if s.desirable else (other, s))
    return pairs[: config.max_per_problem] if config.max_per_problem else pairs


def _downsample(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    good = [r for r in rows if r["label"]]
    bad = [r for r in rows if not r["label"]]
    n = min(len(good), len(bad))
    return rng.sample(good, n) + rng.sample(bad, n)


# --- rows in TRL's columns ---------------------------------------------------------------------


def _training_prompt(sample: Sample, problem_prompt: str, conversational: bool) -> Prompt:
    """The prompt the policy answered, in the data's format.

    The recorded prompt when there is one, else what ``plum sample`` sends by default (the
    problem as is for base models, EvalPlus's instruction for chat models). A final assistant
    message (a prefilled answer start) is dropped: the response already begins with it, and
    TRL's formats have no "continue this turn".
    """
    recorded = sample.metadata.get("prompt")
    if recorded is None:
        return (
            chat_prompt(problem_prompt, PromptConfig(), prefill=False).prompt
            if conversational
            else problem_prompt
        )
    if isinstance(recorded, str) == conversational:
        raise PlumError(
            f"sample {sample.task_id!r}/{sample.sample_id}: its recorded prompt is "
            f"{'plain text' if conversational else 'chat messages'}, but the data format is "
            f"{'conversational' if conversational else 'standard'}"
        )
    if conversational and recorded and recorded[-1]["role"] == "assistant":
        return recorded[:-1]
    return recorded


def _completion(text: str, conversational: bool) -> str | list[Message]:
    return [{"role": "assistant", "content": text}] if conversational else text


def _kto_row(problem_prompt: str, labeled: LabeledSample, conversational: bool) -> dict[str, Any]:
    sample = labeled.sample
    return {
        "prompt": _training_prompt(sample, problem_prompt, conversational),
        "completion": _completion(sample.response, conversational),
        "label": labeled.desirable,
        "task_id": sample.task_id,
        "sample_id": sample.sample_id,
        "pass_fraction": labeled.pass_fraction,
    }


def _dpo_row(
    problem_prompt: str, chosen: Sample, rejected: Sample, conversational: bool
) -> dict[str, Any]:
    return {
        "prompt": _training_prompt(chosen, problem_prompt, conversational),
        "chosen": _completion(chosen.response, conversational),
        "rejected": _completion(rejected.response, conversational),
        "task_id": chosen.task_id,
        "chosen_id": chosen.sample_id,
        "rejected_id": rejected.sample_id,
    }


def _summarize(
    stats: Counter[str],
    kto_rows: list[dict[str, Any]],
    dpo_rows: list[dict[str, Any]],
    config: PrefsConfig,
    conversational: bool,
) -> dict[str, Any]:
    n_desirable = sum(bool(r["label"]) for r in kto_rows)
    n_undesirable = len(kto_rows) - n_desirable
    keys = (
        "problems", "problems_mixed", "problems_all_pass", "problems_none_pass", "samples",
        "samples_not_executed", "samples_infra_error", "samples_duplicate",
    )  # fmt: skip
    summary: dict[str, Any] = {key: stats[key] for key in keys}
    summary.update(
        format="conversational" if conversational else "standard",
        kto_rows=len(kto_rows),
        kto_desirable=n_desirable,
        kto_undesirable=n_undesirable,
        desirable_fraction=n_desirable / len(kto_rows) if kto_rows else 0.0,
        dpo_pairs=len(dpo_rows),
        dpo_problems=len({r["task_id"] for r in dpo_rows}),
        config=asdict(config),
    )
    if config.balance == "weights":
        summary["kto_weights"] = kto_weights(n_desirable, n_undesirable)
    return summary


def preferences_card(out_dir: str | Path, stats: dict[str, Any], provenance: dict[str, Any]) -> StageCard:
    """The card of ``plum prefs``'s dataset: configs ``kto`` and ``dpo`` in TRL's formats."""
    out_dir = Path(out_dir)
    kto = list(read_jsonl(out_dir / KTO_FILE))
    dpo = list(read_jsonl(out_dir / DPO_FILE))
    fmt = stats["format"]
    return StageCard(
        stage="prefs",
        title="Preference data from executed samples (plum prefs)",
        summary="PLUM's preference data: each on-policy sample labelled by the synthesized tests it was "
        "run against (all pass = desirable). Config `kto` holds TRL's unpaired preference rows "
        "(`KTOTrainer`), config `dpo` the pairs of a passing and a failing response to one prompt "
        "(`DPOTrainer`). The KTO loss weights that balance the labels are in `stats.json`, which "
        "`plum train` reads.",
        configs=[ConfigData("kto", kto, KTO_COLUMNS), ConfigData("dpo", dpo, DPO_COLUMNS)],
        stats=stats,
        provenance=provenance,
        tags=["trl", "kto", "dpo", "preference"],
        trl={"kto": (fmt, "unpaired preference"), "dpo": (fmt, "preference")},
    )

"""Instruction sources for test synthesis: natural-language problems, with or without a function name.

Three sources feed ``plum testgen``:
- the custom problems JSONL (``plum_exec.problems.load_problems_jsonl``): the prompt already names
  the entry point, so the generator must use it and the policy sees the prompt unchanged;
- MBPP's release file (one split, by task id): only the ``text`` field, which names no function;
- a Hugging Face instruction dataset (OSS-Instruct / Evol-Instruct style) by hub name, local
  folder or local JSON/JSONL/parquet file, with the instruction and id columns named by the user.

Without a function name, the generator's reference solution fixes the entry point later, and
``plum_data.testgen`` completes the policy's prompt with its signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from plum_exec.errors import PlumError
from plum_exec.jsonl import read_jsonl, require

# File types ``datasets`` reads through its generic builders, by suffix.
_DATASET_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class Instruction:
    """One problem statement to synthesize tests for.

    ``entry_point`` is None when the statement names no function (the generator then picks one).
    ``prompt`` is the policy's prompt when the source already has one that names the function.
    """

    task_id: str
    text: str
    entry_point: str | None = None
    prompt: str | None = None
    setup: str = ""


@dataclass
class InstructionsConfig:
    """Where instructions come from. Exactly one of ``problems``, ``mbpp``, ``hf_dataset``."""

    problems: str | None = field(
        default=None, metadata={"help": "custom problems JSONL (task_id, prompt, entry_point, ...)"}
    )
    mbpp: str | None = field(
        default=None, metadata={"help": "MBPP release JSONL; only its `text` field is used"}
    )
    hf_dataset: str | None = field(
        default=None,
        metadata={
            "help": "Hugging Face dataset name, local dataset folder, or .json/.jsonl/.parquet/.csv file"
        },
    )
    instruction_field: str = field(
        default="instruction",
        metadata={"help": "dataset column holding the instruction (OSS-Instruct: `problem`)"},
    )
    id_field: str | None = field(
        default=None,
        metadata={"help": "dataset column holding a unique id (default: the row number)"},
    )
    split: str = field(
        default="train",
        metadata={
            "help": "dataset split; for MBPP one of prompt/test/validation/train/all (train = 601-974)"
        },
    )
    limit: int | None = field(default=None, metadata={"help": "use only the first N instructions"})

    def __post_init__(self) -> None:
        given = [name for name in ("problems", "mbpp", "hf_dataset") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one instruction source: problems, mbpp or hf_dataset"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1")


def load_instructions(config: InstructionsConfig) -> list[Instruction]:
    """Read the configured source; ids must be unique."""
    if config.problems:
        instructions = from_problems(config.problems)
    elif config.mbpp:
        instructions = from_mbpp(config.mbpp, config.split)
    else:
        instructions = from_hf_dataset(
            config.hf_dataset or "", config.instruction_field, config.id_field, config.split
        )
    if config.limit is not None:
        instructions = instructions[: config.limit]
    return instructions


def from_problems(path: str | Path) -> list[Instruction]:
    """Custom problems: the prompt is both the instruction and what the policy sees."""
    from plum_exec.problems import load_problems_jsonl

    return [
        Instruction(
            task_id=p.task_id,
            text=p.prompt,
            entry_point=p.entry_point,
            prompt=p.prompt,
            setup=p.setup,
        )
        for p in load_problems_jsonl(path).values()
    ]


def from_mbpp(path: str | Path, split: str = "all") -> list[Instruction]:
    """MBPP release rows of a split: ``Mbpp/N`` ids and the ``text``; the function name stays unknown."""
    from plum_exec.problems import MBPP_SPLITS

    if split != "all" and split not in MBPP_SPLITS:
        raise PlumError(f"unknown MBPP split {split!r}; valid: {', '.join([*MBPP_SPLITS, 'all'])}")
    low, high = MBPP_SPLITS.get(split, (1, float("inf")))
    instructions = []
    for lineno, row in enumerate(read_jsonl(path), start=1):
        where = f"{path}:{lineno}"
        number = require(row, "task_id", where, int)
        text = require(row, "text", where, str)
        if low <= number <= high:
            instructions.append(Instruction(task_id=f"Mbpp/{number}", text=text.strip()))
    return _unique(instructions, str(path))


def from_hf_dataset(
    name_or_path: str, instruction_field: str, id_field: str | None = None, split: str = "train"
) -> list[Instruction]:
    """Rows of a Hugging Face dataset; ``id_field`` None numbers them ``<dataset>/<row>``."""
    dataset = _load_dataset(name_or_path, split)
    columns = dataset.column_names
    for column in (instruction_field, id_field):
        if column is not None and column not in columns:
            raise PlumError(
                f"{name_or_path}: no column '{column}' (columns: {', '.join(columns)}); "
                "choose one with --instruction-field / --id-field"
            )
    prefix = Path(name_or_path).stem if Path(name_or_path).exists() else name_or_path
    instructions = []
    for index, row in enumerate(dataset):
        text = row[instruction_field]
        if not isinstance(text, str) or not text.strip():
            raise PlumError(
                f"{name_or_path}: row {index}: field '{instruction_field}' is empty or not text"
            )
        task_id = str(row[id_field]) if id_field else f"{prefix}/{index}"
        instructions.append(Instruction(task_id=task_id, text=text.strip()))
    return _unique(instructions, name_or_path)


def _load_dataset(name_or_path: str, split: str):  # -> datasets.Dataset
    import datasets

    path = Path(name_or_path)
    if path.is_file():
        builder = _DATASET_BUILDERS.get(path.suffix)
        if builder is None:
            known = ", ".join(sorted(_DATASET_BUILDERS))
            raise PlumError(
                f"{path}: unsupported dataset file type (use {known} or a dataset folder)"
            )
        args: tuple = (builder,)
        kwargs = {"data_files": {split: str(path)}}
    else:
        args, kwargs = (name_or_path,), {}
    try:
        return datasets.load_dataset(*args, split=split, **kwargs)
    except (
        OSError,
        ValueError,
        datasets.exceptions.DatasetsError,
    ) as exc:  # not found, offline, bad file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlumError(
            f"{name_or_path}: cannot load dataset split '{split}' ({first_line})"
        ) from None


def _unique(instructions: list[Instruction], where: str) -> list[Instruction]:
    seen: set[str] = set()
    for instruction in instructions:
        if instruction.task_id in seen:
            raise PlumError(f"{where}: duplicate task_id '{instruction.task_id}'")
        seen.add(instruction.task_id)
    return instructions

"""Fitting rows into ``max_length`` without cutting away what they teach, and counting what is left.

TRL 1.x cuts every tokenized prompt + completion at ``max_length`` from the end (``keep_start``;
DPO's ``keep_end`` is deprecated and KTO has none, ``max_prompt_length`` is gone). Where the
prompt is the long part, that cuts the completions, the only part that carries a preference: a
DPO pair whose chosen and rejected differ after the cut point becomes two identical sequences,
its loss exactly log 2 and its gradient zero (or floating-point noise). So plum takes TRL's own
tokenization and cuts long prompts from their start first, as TRL 0.x's ``max_prompt_length``
did, then counts the rows that still have signal inside the window TRL trains on.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

IGNORED = -100  # the label of tokens without loss (prompt tokens in SFT)
_ROW_NAME = {"dpo": "DPO pairs", "kto": "KTO rows", "sft": "SFT rows"}


def prompt_room(prompt: int, completion: int, max_length: int) -> int:
    """Prompt tokens kept: all when prompt + completion fit, else what the completion leaves,
    but never less than half the window (a very long completion then loses its end instead)."""
    return min(prompt, max(max_length - completion, max_length // 2))


def _fit_row(row: dict[str, Any], max_length: int) -> dict[str, Any]:
    """One tokenized row with its prompt cut from the start (the question's end and the assistant
    header stay next to the completion)."""
    if "labels" in row:  # SFT: one sequence, prompt tokens labelled IGNORED
        labels = row["labels"]
        prompt = next((i for i, label in enumerate(labels) if label != IGNORED), len(labels))
        drop = prompt - prompt_room(prompt, len(labels) - prompt, max_length)
        # SFT truncates in the dataset, not in its collator: cut the end here as TRL would.
        return {"input_ids": row["input_ids"][drop:][:max_length], "labels": labels[drop:][:max_length]}
    completion = max(len(row[key]) for key in ("chosen_ids", "rejected_ids", "completion_ids") if key in row)
    prompt = len(row["prompt_ids"])
    return {"prompt_ids": row["prompt_ids"][prompt - prompt_room(prompt, completion, max_length) :]}


@dataclass(frozen=True)
class Signal:
    """Rows of a prepared training set, and those that teach nothing inside ``max_length``."""

    method: str
    rows: int
    cut_away: int  # completion cut away entirely (or empty)
    identical: int  # DPO: chosen == rejected in the window; KTO: same tokens as a row of the other label

    @property
    def without(self) -> int:
        return self.cut_away + self.identical

    def describe(self, max_length: int) -> str:
        reasons = []
        if self.identical:
            reasons.append(
                f"{self.identical} with chosen and rejected the same tokens"
                if self.method == "dpo"
                else f"{self.identical} with the same tokens as a row of the other label"
            )
        if self.cut_away:
            reasons.append(f"{self.cut_away} with the completion cut away")
        return (
            f"{self.without} of {self.rows} {_ROW_NAME[self.method]} carry no signal within "
            f"max_length={max_length} tokens ({', '.join(reasons)})"
        )


def count_signal(dataset: Any, method: str, max_length: int) -> Signal:
    """Count the rows of a TRL-prepared dataset (prompt cut by ``fit``) without learning signal
    in the first ``max_length`` tokens, the window TRL's collators keep."""
    if method == "sft":
        empty = sum(all(label == IGNORED for label in labels) for labels in dataset["labels"])
        return Signal(method, len(dataset), empty, 0)
    rooms = [max_length - len(prompt) for prompt in dataset["prompt_ids"]]
    if method == "dpo":
        pairs = zip(rooms, dataset["chosen_ids"], dataset["rejected_ids"], strict=True)
        same = sum(chosen[:room] == rejected[:room] for room, chosen, rejected in pairs)
        return Signal(method, len(rooms), 0, same)
    seen = [tuple(ids[:room]) for room, ids in zip(rooms, dataset["completion_ids"], strict=True)]
    labels_of: dict[tuple[tuple[int, ...], tuple[int, ...]], set[bool]] = defaultdict(set)
    keys = [(tuple(prompt), completion) for prompt, completion in zip(dataset["prompt_ids"], seen, strict=True)]
    for key, label in zip(keys, dataset["label"], strict=True):
        labels_of[key].add(label)
    cut_away = sum(not completion for completion in seen)
    both = sum(bool(key[1]) and len(labels_of[key]) == 2 for key in keys)
    return Signal(method, len(rooms), cut_away, both)


class FitCompletions:
    """Mixin for TRL's KTOTrainer, DPOTrainer and SFTTrainer: their own dataset preparation
    (chat template, tokenization, KL completions) with the prompt cut before the end cut, and
    ``signal`` counted on the training set.

    TRL's preparation runs with ``max_length=None`` (its filter would drop rows whose prompt alone
    fills the window, the very rows a prompt cut saves); its collators, built from the real
    arguments, still cut every sequence at ``max_length``.
    """

    signal: Signal | None = None

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, *rest: Any) -> Any:
        uncut = copy.copy(args)
        uncut.max_length = None
        prepared = super()._prepare_dataset(dataset, processing_class, uncut, *rest)  # type: ignore[misc]
        if args.max_length is None:
            return prepared
        prepared = prepared.map(_fit_row, fn_kwargs={"max_length": args.max_length})
        method = "sft" if "labels" in prepared.column_names else "dpo" if "chosen_ids" in prepared.column_names else "kto"
        if rest[-1] == "train":  # the dataset's name, TRL's last argument
            self.signal = count_signal(prepared, method, args.max_length)
        if method == "sft":  # as TRL's SFT preparation does: rows without a label add no loss
            prepared = prepared.filter(lambda row: any(label != IGNORED for label in row["labels"]))
        return prepared

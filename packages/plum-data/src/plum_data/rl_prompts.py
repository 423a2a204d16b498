"""Problems -> the prompts dataset online RL trains on (``plum prompts``; ``plum train --method grpo``).

Each row is one problem's prompt as the policy sees it in ``plum sample``: the policy's chat
template gets EvalPlus's instruction (LiveCodeBench problems: its own prompt), a model without one
gets the problem's own prompt to continue. No assistant prefill: TRL's GRPOTrainer always opens a
fresh assistant turn. Columns are TRL's prompt-only format plus ``task_id``, which
``plum_exec.rewards.PlumTestReward`` reads to find each completion's tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plum_data.prompts import PromptConfig, build_prompt, resolve_style
from plum_exec.cards import StageCard
from plum_exec.datasets_io import ConfigData
from plum_exec.jsonl import write_jsonl
from plum_exec.records import Problem

PROMPTS_FILE = "prompts.jsonl"
PROMPTS_CONFIG = "prompts"  # the dataset config ``plum train --method grpo`` reads
PROMPT_COLUMNS = {
    "prompt": "what the policy sees: chat messages (system, user) or, for a model without a chat template, text",
    "task_id": "problem id: the reward runs the completion against this problem's tests",
}


@dataclass(frozen=True)
class PromptTarget:
    """What prompt building needs to know of the policy (``generation.Generator``'s two flags)."""

    chat: bool
    prefill: bool = False


def policy_has_chat_template(model: str) -> bool:
    from transformers import AutoTokenizer

    from plum_exec.sources import model_source

    return AutoTokenizer.from_pretrained(model_source(model)).chat_template is not None


def write_rl_prompts(problems: Mapping[str, Problem], model: str, config: PromptConfig, out_path: str | Path) -> list[dict[str, Any]]:
    """The prompts of ``problems`` in ``model``'s prompt style (``config.prompt_style``, or its chat
    template's presence), written to ``out_path`` (JSONL); returns the rows."""
    chat = resolve_style(config, PromptTarget(chat=policy_has_chat_template(model))) == "chat"
    rows = rl_prompt_rows(problems, chat, config)
    write_jsonl(out_path, rows)
    return rows


def rl_prompt_rows(problems: Mapping[str, Problem], chat: bool, config: PromptConfig) -> list[dict[str, Any]]:
    """One row per problem, in order: ``{"prompt": ..., "task_id": ...}``."""
    target = PromptTarget(chat=chat)
    return [{"prompt": build_prompt(p, config, target).prompt, "task_id": task_id} for task_id, p in problems.items()]  # type: ignore[arg-type]


def prompts_card(rows: list[dict[str, Any]], provenance: dict[str, Any]) -> StageCard:
    chat = bool(rows) and isinstance(rows[0]["prompt"], list)
    return StageCard(
        stage="prompts",
        title="Prompts for online RL (plum prompts)",
        summary="One prompt per problem, as the policy sees it, with the problem's `task_id`: the "
        "prompt-only dataset TRL's GRPOTrainer generates from (`plum train --method grpo`), rewarded "
        "by running each completion against that problem's tests (`plum_exec.rewards.PlumTestReward`).",
        configs=[ConfigData(PROMPTS_CONFIG, rows, PROMPT_COLUMNS)],
        stats={"prompts": len(rows), "style": "chat" if chat else "completion"},
        provenance=provenance,
        tags=["trl", "grpo", "prompt-only"],
        trl={PROMPTS_CONFIG: ("conversational" if chat else "standard", "prompt-only")},
    )

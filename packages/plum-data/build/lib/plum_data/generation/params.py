"""Sampling settings: one immutable value, validated once at construction (as vLLM's ``SamplingParams``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SamplingParams:
    """How to sample completions; passed unchanged through every backend.

    Parameters:
        n: completions per prompt.
        temperature: 0 means greedy decoding (then ``top_p`` is ignored).
        top_p: nucleus sampling mass, in (0, 1].
        max_new_tokens: most tokens generated per completion.
        stop: strings that end a completion; the text is cut before the first one found.
        seed: makes sampling repeatable for the same prompts, batch size and backend.
    """

    n: int = field(default=1, metadata={"help": "completions per prompt"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature; 0 = greedy"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass in (0, 1]"})
    max_new_tokens: int = field(default=512, metadata={"help": "most tokens per completion"})
    stop: tuple[str, ...] = field(default=(), metadata={"help": "stop strings (cut before the first)"})
    seed: int | None = field(default=None, metadata={"help": "random seed for repeatable sampling"})

    def __post_init__(self) -> None:
        # Accept any iterable of strings (YAML and argparse give lists) but store a tuple, so the
        # value stays hashable and immutable.
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError(f"stop must hold non-empty strings, got {self.stop!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def truncate_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string; say whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)

"""What a training shows: plum's own lines on the terminal, the libraries' chatter in the run's log.

transformers, TRL, datasets, PEFT, accelerate and torch each print on their own (deprecation
warnings, "Loading weights" and ``map`` bars, TRL's panels, warnings about settings plum chose on
purpose). While a training runs, their loggers, Python warnings and anything they write to
stdout/stderr go to ``OUT/train.log``; plum says what matters, once, in its own words.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from transformers import TrainerCallback

PREFIX = "plum train: "
# Library loggers, routed to the log even where a handler holds the terminal's stream (transformers',
# datasets') or an application configured the root logger.
# Python warnings and loggers without a handler (lastResort) write to sys.stderr, redirected below.
LIBRARY_LOGGERS = ("transformers", "datasets", "trl", "peft", "accelerate", "torch", "huggingface_hub")
REPORTS = 10  # progress lines per training, besides the last step


class LibraryOutput(contextlib.ExitStack):
    """Context: library output to ``log_path`` (appended; a resumed run keeps the first run's
    lines); ``say`` prints on the terminal and in the log."""

    def __init__(self, log_path: Path) -> None:
        super().__init__()
        self.log_path = log_path
        self.terminal: TextIO = sys.stderr
        self.stdout: TextIO = sys.stdout

    def __enter__(self) -> LibraryOutput:
        super().__enter__()
        self.terminal, self.stdout = sys.stderr, sys.stdout
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.enter_context(self.log_path.open("a", encoding="utf-8", buffering=1))
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        for name in LIBRARY_LOGGERS:
            self._route(logging.getLogger(name), handler)
        self._progress_bars_off()
        # What libraries print directly (tqdm bars, rich panels, print) lands in the log too.
        self.enter_context(contextlib.redirect_stdout(log))
        self.enter_context(contextlib.redirect_stderr(log))
        return self

    def say(self, text: str) -> None:
        print(PREFIX + text, file=self.terminal, flush=True)
        print(PREFIX + text, file=sys.stderr, flush=True)  # the log, while redirected

    def _route(self, logger: logging.Logger, handler: logging.Handler) -> None:
        saved = logger.handlers[:], logger.propagate
        logger.handlers, logger.propagate = [handler], False

        def restore() -> None:
            logger.handlers, logger.propagate = saved

        self.callback(restore)

    def _progress_bars_off(self) -> None:
        """Bars drawn over many lines would fill the log; each library's own switch turns them off."""
        import datasets
        import huggingface_hub.utils as hub_utils
        import transformers

        if transformers.utils.logging.is_progress_bar_enabled():
            transformers.utils.logging.disable_progress_bar()
            self.callback(transformers.utils.logging.enable_progress_bar)
        if not datasets.utils.are_progress_bars_disabled():
            datasets.utils.disable_progress_bars()
            self.callback(datasets.utils.enable_progress_bars)
        if not hub_utils.are_progress_bars_disabled():
            hub_utils.disable_progress_bars()
            self.callback(hub_utils.enable_progress_bars)


class Progress(TrainerCallback):  # type: ignore[misc]
    """One line at every tenth of the steps and at the last: step, loss and the method's margin.

    It asks the trainer to log at those steps, so every run has at least its last step's
    learning rate and gradient norm in ``log_history`` (the learning-signal check reads them).
    """

    def __init__(self, output: LibraryOutput) -> None:
        self.output = output
        self.started = time.monotonic()

    def _reported(self, step: int, total: int) -> bool:
        return step % max(1, total // REPORTS) == 0 or step >= total

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()
        if state.is_world_process_zero:
            resumed = f" (resumed at step {state.global_step})" if state.global_step else ""
            self.output.say(
                f"{state.max_steps} optimizer steps{resumed}; library messages in {self.output.log_path}"
            )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._reported(state.global_step, state.max_steps):
            control.should_log = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:  # fmt: skip
        logs = logs or {}
        if not (state.is_world_process_zero and "loss" in logs and self._reported(state.global_step, state.max_steps)):
            return
        parts = [f"step {state.global_step}/{state.max_steps}", f"loss {logs['loss']:.4f}"]
        parts += [f"{key} {logs[key]:.4f}" for key in ("rewards/margins", "kl") if key in logs]
        self.output.say(", ".join(parts) + f" ({time.monotonic() - self.started:.0f} s)")

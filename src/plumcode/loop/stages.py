"""The stages of a run, each calling its module's public function with the loop's settings."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plum_data.generation import GeneratorConfig, SamplingParams
from plum_data.instructions import InstructionsConfig
from plum_data.prompts import PromptConfig
from plum_data.testgen import TestGenConfig
from plum_exec.errors import PlumError
from plum_exec.evaluation import EvaluationConfig
from plum_exec.hub import PushTarget
from plum_train.training import EXPORT_DIR
from plumcode.loop.config import RunConfig, config_to_dict, load_eval_set
from plumcode.loop.folder import RunFolder, Stage
from plumcode.loop.hub import model_target, pushed_dataset

# Settings that change how fast or where work runs, never what it computes: a resumed run may
# change them (another machine, another server) without invalidating finished stages.
RUNTIME_KEYS = frozenset(
    {"workers", "batch_size", "max_concurrency", "max_retries", "request_timeout", "api_key_env",
     "gpu_memory_utilization", "device", "ray"}
)  # fmt: skip


def _without_runtime_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_runtime_keys(v) for k, v in value.items() if k not in RUNTIME_KEYS}
    return value


class RunStages:
    """Builds a run's stages and holds what they share (the loaded policy, the console)."""

    def __init__(self, config: RunConfig, folder: RunFolder, console: Any):
        self.config, self.folder, self.console = config, folder, console
        self._generator: tuple[str, Any] | None = None

    def stages(self) -> list[Stage]:
        stages = [self.tests_stage(), *self.eval_stages(0)]
        for round_ in range(1, self.config.rounds + 1):
            if self.config.training.method == "grpo":  # online RL: no sample / execute / prefs
                from plumcode.loop import grpo

                stages += [*grpo.round_stages(self, round_), *self.eval_stages(round_)]
                continue
            stages += [
                self.sample_stage(round_),
                self.execute_stage(round_),
                self.prefs_stage(round_),
                self.train_stage(round_),
                *self.eval_stages(round_),
            ]
        return stages

    def settings(self, *sections: str) -> dict[str, Any]:
        plain = config_to_dict(self.config)
        return {name: _without_runtime_keys(plain[name]) for name in sections}

    def policy_path(self, round_: int) -> str:
        """The policy of round r: the starting model for r = 0, else round r's exported model."""
        if round_ == 0:
            return self.config.policy.model
        return str(self.folder.train(round_) / EXPORT_DIR)

    def policy_inputs(self, round_: int) -> list[str]:
        return [] if round_ == 0 else [f"round_{round_:02d}/train"]

    # Test synthesis, once per run.
    def tests_stage(self) -> Stage:
        from plum_data.testgen import output_paths

        synthesized = self.config.test_generator is not None
        return Stage(
            key="tests",
            outputs=list(output_paths(self.folder.tests)),
            settings=self.settings("instructions", "test_generator", "testgen", "execution")
            if synthesized
            else self.settings("instructions"),
            action=self.synthesize_tests,
        )

    def synthesize_tests(self) -> dict[str, Any]:
        if self.config.test_generator is None:
            return self.copy_given_tests()
        config = self.config
        return self.call(
            _synthesize,
            config.instructions,
            config.test_generator,
            config.testgen,
            config.execution,
            self.folder.tests,
        )

    def copy_given_tests(self) -> dict[str, Any]:
        """Oracle tests: the instruction problems as given (the loader insists each has tests)."""
        from plum_exec.jsonl import read_jsonl, write_jsonl
        from plum_exec.problems import load_problems_jsonl

        path = self.config.instructions.problems or ""
        load_problems_jsonl(path)  # validates every row, with file:line errors
        rows = list(read_jsonl(path))[: self.config.instructions.limit]
        write_jsonl(self.folder.tests, rows)
        return {"problems_in": len(rows), "problems_kept": len(rows), "tests": "given"}

    def instruction_problems(self) -> dict[str, Any]:
        from plum_exec.problems import load_problems_jsonl

        return load_problems_jsonl(self.folder.tests)

    # One round: sample -> execute -> prefs -> train.
    def sample_stage(self, round_: int) -> Stage:
        return Stage(
            key=f"round_{round_:02d}/sample",
            outputs=[self.folder.samples(round_)],
            settings=self.settings("policy", "sampling", "prompts"),
            inputs=["tests", *self.policy_inputs(round_ - 1)],
            action=lambda: self.sample(
                self.instruction_problems(),
                round_ - 1,
                self.config.sampling,
                self.folder.samples(round_),
            ),
        )

    def execute_stage(self, round_: int) -> Stage:
        return Stage(
            key=f"round_{round_:02d}/execute",
            outputs=[self.folder.results(round_)],
            settings=self.settings("execution"),
            inputs=["tests", f"round_{round_:02d}/sample"],
            action=lambda: self.execute(
                self.instruction_problems(),
                self.folder.samples(round_),
                self.folder.results(round_),
            ),
        )

    def prefs_stage(self, round_: int) -> Stage:
        return Stage(
            key=f"round_{round_:02d}/prefs",
            outputs=[self.folder.prefs(round_)],
            settings=self.settings("prefs"),
            inputs=[f"round_{round_:02d}/execute"],
            action=lambda: self.build_prefs(round_),
        )

    def build_prefs(self, round_: int) -> dict[str, Any]:
        from plum_data.preferences import build_preferences

        config = dataclasses.replace(self.config.prefs, model=self.policy_path(round_ - 1))
        stats = build_preferences(
            self.folder.tests,
            self.folder.samples(round_),
            self.folder.results(round_),
            self.folder.prefs(round_),
            config,
        )
        return {k: v for k, v in stats.items() if k != "config"}

    def train_stage(self, round_: int) -> Stage:
        return Stage(
            key=f"round_{round_:02d}/train",
            outputs=[self.folder.train(round_)],
            settings={
                **self.settings("training"),
                "start": self.policy_path(0) if round_ == 1 else None,
            },
            inputs=[f"round_{round_:02d}/prefs", *self.policy_inputs(round_ - 1)],
            action=lambda: self.train(round_),
        )

    def train(self, round_: int) -> dict[str, Any]:
        from plum_data.preferences import DPO_FILE, KTO_FILE
        from plum_train.training import train

        self.release_policy()  # the GPU memory goes to training
        config = dataclasses.replace(self.config.training, model=self.policy_path(round_ - 1))
        # The pushed preference dataset, pinned to its commit, when the run publishes it: the
        # model card then names that dataset and commit, not a path on this machine.
        pushed = pushed_dataset(self.folder, f"round_{round_:02d}/prefs")
        local = self.folder.prefs(round_) / (DPO_FILE if config.method == "dpo" else KTO_FILE)
        data = f"{pushed}:{config.method}" if pushed else local
        out = self.folder.train(round_)
        push = model_target(self.config, self.folder, round_)
        if self.config.train_launcher:
            _launch_training(
                self.config.train_launcher, self.folder.config, config.model, data, out, push
            )
        else:
            self.call(train, config, data, out, push)
        return {"model": str(out / EXPORT_DIR), **_training_stats(out)}

    # Evaluation of a round's policy on each benchmark and split.
    def eval_stages(self, round_: int) -> list[Stage]:
        stages = []
        for name in self.config.evaluation.names:
            key = f"round_{round_:02d}/eval/{name}"
            out = self.folder.eval(round_, name)
            stages.append(
                Stage(
                    key=f"{key}/sample",
                    outputs=[out / "samples.jsonl"],
                    settings={**self.eval_settings(name), **self.settings("policy", "prompts")},
                    inputs=self.policy_inputs(round_),
                    action=lambda name=name, out=out, r=round_: self.sample(
                        self.eval_problems(name),
                        r,
                        self.config.evaluation.sampling,
                        out / "samples.jsonl",
                    ),
                )
            )
            stages.append(
                Stage(
                    key=f"{key}/execute",
                    outputs=[out / "results.jsonl"],
                    settings={**self.eval_settings(name), **self.settings("execution")},
                    inputs=[f"{key}/sample"],
                    action=lambda name=name, out=out: self.execute(
                        self.eval_problems(name), out / "samples.jsonl", out / "results.jsonl"
                    ),
                )
            )
        return stages

    def eval_settings(self, name: str) -> dict[str, Any]:
        evaluation = self.settings("evaluation")["evaluation"]
        source = evaluation["splits"].get(name) or {
            "benchmark": name,
            "file": evaluation["benchmark_files"].get(name),
        }
        return {
            "eval_set": source,
            "eval_sampling": evaluation["sampling"],
            "eval_limit": evaluation["limit"],
        }

    def eval_problems(self, name: str) -> dict[str, Any]:
        return load_eval_set(self.config.evaluation, name)

    # The stage modules, called with the loop's settings.
    def sample(
        self, problems: dict[str, Any], policy_round: int, params: SamplingParams, out: Path
    ) -> dict[str, Any]:
        path = self.policy_path(policy_round)
        if self.config.isolate_stages:
            policy = dataclasses.replace(self.config.policy, model=path)
            return self.call(_sample, policy, problems, params, self.config.prompts, out)
        return _sample(self.policy(path), problems, params, self.config.prompts, out)

    def execute(self, problems: dict[str, Any], samples: Path, out: Path) -> dict[str, Any]:
        from plum_exec.evaluation import evaluate_samples, read_samples

        summary = evaluate_samples(
            problems, read_samples(samples, problems), out, self.config.execution
        )
        # A benchmark with plus tests (humaneval+, mbpp+) is scored by them, as EvalPlus does.
        scores = summary["plus"] or summary["base"]
        return {**summary, "pass@1": scores.get("pass@1", 0.0), "n": summary["tasks"]}

    def policy(self, path: str) -> Any:
        """The generator for ``path``, kept loaded while consecutive stages use the same policy."""
        if self._generator is None or self._generator[0] != path:
            from plum_data.generation import load_generator

            self.release_policy()
            self._generator = (
                path,
                load_generator(dataclasses.replace(self.config.policy, model=path)),
            )
        return self._generator[1]

    def release_policy(self) -> None:
        if self._generator is None:
            return
        generator, self._generator = self._generator[1], None
        # vLLM's engine lives in processes of its own, which garbage collection here may not end
        # in time: its close() stops them, so their memory is free before training starts.
        if hasattr(generator, "close"):
            generator.close()
        del generator
        import gc

        gc.collect()
        # torch is imported only by local backends; a server-backed policy never loads it.
        if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
            sys.modules["torch"].cuda.empty_cache()

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``, in a fresh child process when stages are isolated (arguments pickled)."""
        if not self.config.isolate_stages:
            return function(*args)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        ) as child:
            return child.submit(function, *args).result()


def _synthesize(
    instructions: InstructionsConfig,
    generator: GeneratorConfig,
    testgen: TestGenConfig,
    execution: EvaluationConfig,
    out: Path,
) -> dict[str, Any]:
    from plum_data.generation import load_generator
    from plum_data.instructions import load_instructions
    from plum_data.testgen import synthesize_tests

    return synthesize_tests(
        load_instructions(instructions),
        load_generator(generator),
        out,
        testgen,
        execution.sandbox_config(),
        ray=execution.ray,
        ray_workers=execution.workers,
    )


def _sample(
    policy: Any, problems: dict[str, Any], params: SamplingParams, prompts: PromptConfig, out: Path
) -> dict[str, Any]:
    """Sample with ``policy`` (a loaded generator, or the GeneratorConfig of one to load here)."""
    from plum_data.generation import load_generator
    from plum_data.sampling import sample_problems

    generator = load_generator(policy) if isinstance(policy, GeneratorConfig) else policy
    samples = sample_problems(problems, generator, params, out, prompt_config=prompts)
    tokens = [s.metadata.get("completion_tokens") for s in samples]
    return {
        "samples": len(samples),
        "completion_tokens": sum(t for t in tokens if t is not None),
        "truncated": sum(s.metadata.get("finish_reason") == "length" for s in samples),
    }


def _launch_training(
    launcher: list[str], config_path: Path, model: str, data: str | Path, out: Path, push: PushTarget | None = None,
    extra: list[str] = (),
) -> None:
    """``plum train`` as its own program (under accelerate for several GPUs), reading the run's config."""
    import shlex
    import subprocess

    command = [*launcher, "-m", "plumcode", "train", "--config", str(config_path)]
    command += ["--model", model, "--data", str(data), "--out", str(out), *extra]
    if push is not None:
        command += ["--push-to-hub", push.repo_id, *(["--private"] if push.private else [])]
    returncode = subprocess.run(command, check=False).returncode
    if returncode != 0:
        raise PlumError(f"training failed (exit code {returncode}): {shlex.join(command)}")


def _training_stats(train_dir: Path) -> dict[str, Any]:
    """Optimizer steps, tokens seen and the last loss, from the trainer's saved log history."""
    from plum_train.training import LOG_FILE

    log = json.loads((train_dir / LOG_FILE).read_text(encoding="utf-8"))
    losses = [entry["loss"] for entry in log if "loss" in entry]
    tokens = [entry["num_tokens"] for entry in log if "num_tokens" in entry]
    return {
        "steps": len(losses),
        "final_loss": losses[-1] if losses else None,
        "tokens": tokens[-1] if tokens else None,
    }

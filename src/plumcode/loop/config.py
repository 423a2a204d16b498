"""RunConfig: one section per stage, read from YAML with type checks and one-line errors naming file:line and key."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from plum_data.generation import GeneratorConfig, SamplingParams
from plum_data.instructions import InstructionsConfig
from plum_data.preferences import PrefsConfig
from plum_data.prompts import PromptConfig
from plum_data.testgen import TestGenConfig
from plum_exec.config import load_yaml
from plum_exec.errors import PlumError
from plum_exec.evaluation import EvaluationConfig
from plum_train.grpo import GRPOSettings
from plum_train.training import TrainConfig

# Fields the loop sets itself each round; a config that sets them is refused, not silently overridden.
LOOP_OWNED = {"training": ("model",), "prefs": ("model",), "grpo": ("problems", "benchmark", "dataset_path", "execution")}


@dataclass
class EvalSetsConfig:
    """What each round's policy is evaluated on (and the starting policy, as round 0).

    benchmarks: names ``plum_exec.problems.load_benchmark`` knows (e.g. humaneval, mbpp+,
        livecodebench), read from ``benchmark_files[name]`` when given (offline copies), else from
        their usual source; ``benchmark_options[name]`` holds a benchmark's own options
        (livecodebench: ``release_version``, ``start_date``, ``end_date``).
    splits: named problem sets with tests, ``{name: problems JSONL}`` (e.g. the demo's
        ``seen``, ``instructions_only``, ``unseen``).
    sampling: pass@1 is estimated from ``n`` samples per problem; greedy by default.
    """

    benchmarks: list[str] = field(default_factory=list, metadata={"help": "benchmark names"})
    splits: dict[str, str] = field(
        default_factory=dict, metadata={"help": "name -> problems JSONL"}
    )
    benchmark_files: dict[str, str] = field(
        default_factory=dict,
        metadata={"help": "benchmark name -> local data file (default: its usual source)"},
    )
    benchmark_options: dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata={"help": "benchmark name -> its options, e.g. livecodebench: {release_version: release_v1}"},
    )
    sampling: SamplingParams = field(
        default_factory=lambda: SamplingParams(n=1, temperature=0.0),
        metadata={"help": "sampling for evaluation (default greedy, one sample)"},
    )
    limit: int | None = field(
        default=None, metadata={"help": "evaluate only the first N problems of each set"}
    )

    def __post_init__(self) -> None:
        clash = sorted(set(self.benchmarks) & set(self.splits))
        if clash:
            raise ValueError(f"names used both as benchmark and split: {', '.join(clash)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1")

    @property
    def names(self) -> list[str]:
        return [*self.benchmarks, *self.splits]


HUB_STAGES = ("tests", "samples", "results", "prefs")


@dataclass
class HubConfig:
    """Publishing a run's datasets (and models) to the Hugging Face Hub (docs/hub.md).

    namespace: the user or organization the repos go to.
    name: the first part of every repo name (default: the run folder's name). Round r's
        datasets are ``NAMESPACE/NAME-rRR-samples``, ``-results``, ``-prefs``, its model
        ``NAMESPACE/NAME-rRR-policy``; the tests are ``NAMESPACE/NAME-tests``.
    stages: which datasets to push (tests, samples, results, prefs).
    model: also push each round's trained model (or LoRA adapter), through the trainer.
    private: create the repos private.
    """

    namespace: str = field(metadata={"help": "Hub user or organization the repos go to"})
    name: str | None = field(default=None, metadata={"help": "repo name prefix (default: the run folder's name)"})
    stages: list[str] = field(default_factory=lambda: list(HUB_STAGES),
                              metadata={"help": "datasets to push: tests, samples, results, prefs"})  # fmt: skip
    model: bool = field(default=False, metadata={"help": "also push each round's trained model"})
    private: bool = field(default=False, metadata={"help": "create the repos private"})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.stages) - set(HUB_STAGES))
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(unknown)} (stages: {', '.join(HUB_STAGES)})")
        if not self.namespace or "/" in self.namespace:
            raise ValueError(f"namespace must be a user or organization name, got {self.namespace!r}")


@dataclass
class RunConfig:
    """One PLUM run: which models, which instructions, how many rounds.

    > The models

    policy: the model being improved (generation backend settings included); round r samples
        from the policy of round r-1, the starting policy being ``policy.model``.
    test_generator: the model that writes a reference solution and tests per instruction
        (PLUM: a stronger model behind an OpenAI-compatible server). Leave it out to use the
        tests already in ``instructions.problems`` instead (oracle tests, for ablations and
        offline demos).

    > The stages (each section is the config of that stage's module)

    instructions, testgen, sampling (N programs per instruction), prompts (how the policy is
    prompted, in sampling and evaluation alike), execution (the sandbox and time limits, for
    test synthesis and every execution), prefs, training, evaluation (the benchmarks and
    splits each round's policy is evaluated on). ``training.model`` and ``prefs.model`` are set by the loop.
    With ``training.method: grpo`` a round is online RL instead (``grpo``: TRL's GRPO settings,
    rewarded by the run's tests with the ``execution`` settings; ``plumcode.loop.grpo``).

    > The loop

    rounds: R rounds after round 0 (the starting policy's evaluation). Raising it on a finished
        run continues it.
    seed: copied into every section's ``seed`` that the config leaves unset.
    hub: push each round's datasets (and optionally its model) to the Hub as the stages finish
        (``HubConfig``); leave it out to keep everything local.

    > Where the work runs (never changes results, so a resumed run may change these)

    isolate_stages: run test synthesis, each sampling stage and training in a fresh child
        process; it costs one model load per stage. (vLLM's engine runs in processes of its own,
        which the loop ends before training without this: docs/vllm.md.)
    train_launcher: run training as ``LAUNCHER -m plumcode train --config RUN/config.yaml
        --model ... --data ... --out ...``, e.g. ``[accelerate, launch, --config_file,
        configs/accelerate/zero2.yaml]`` to train on several GPUs.
    """

    policy: GeneratorConfig
    instructions: InstructionsConfig
    test_generator: GeneratorConfig | None = None
    testgen: TestGenConfig = field(default_factory=TestGenConfig)
    sampling: SamplingParams = field(
        default_factory=lambda: SamplingParams(n=8, temperature=0.8, max_new_tokens=512),
        metadata={"help": "sampling of the N on-policy programs per instruction"},
    )
    prompts: PromptConfig = field(default_factory=PromptConfig)
    execution: EvaluationConfig = field(default_factory=EvaluationConfig)
    prefs: PrefsConfig = field(default_factory=PrefsConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    grpo: GRPOSettings = field(
        default_factory=GRPOSettings, metadata={"help": "online RL settings of training.method: grpo"}
    )
    evaluation: EvalSetsConfig = field(default_factory=EvalSetsConfig)
    rounds: int = field(
        default=1, metadata={"help": "PLUM rounds (sample, execute, prefs, train, evaluate)"}
    )
    seed: int = field(default=0, metadata={"help": "default seed of every stage"})
    isolate_stages: bool = field(
        default=False,
        metadata={
            "help": "run each stage that loads a model in a fresh process (frees vLLM's GPU memory)"
        },
    )
    train_launcher: list[str] = field(
        default_factory=list,
        metadata={
            "help": "command that runs training as its own program, e.g. [accelerate, launch, --config_file, F]"
        },
    )
    hub: HubConfig | None = field(
        default=None, metadata={"help": "publish datasets (and models) to the Hub as stages finish"}
    )

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError("rounds must be >= 0")
        if self.policy.base_url or self.policy.backend == "openai":
            raise ValueError(
                "policy: the loop trains the policy, so it must run locally (transformers or vllm backend)"
            )
        if self.test_generator is None and not self.instructions.problems:
            raise ValueError(
                "test_generator is required, unless instructions.problems gives problems with tests"
            )


def load_run_config(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    """Read a YAML run config; ``overrides`` are ``section.key=value`` strings (value in YAML)."""
    values = apply_overrides(load_yaml(path), overrides)
    return run_config_from_dict(values, where=str(path), source=Path(path))


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``values`` (changed in place, and returned) with each ``section.key=value`` (value in YAML) set."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise PlumError(f"--set {item!r}: expected section.key=value")
        _set_dotted(values, key.strip(), yaml.safe_load(text))
    return values


def run_config_from_dict(
    values: dict[str, Any], *, where: str = "config", source: Path | None = None
) -> RunConfig:
    """Build and type-check a RunConfig; errors name ``where`` (and the YAML line) and the key."""
    try:
        values = _with_default_seeds(values)
        for section, keys in LOOP_OWNED.items():
            for key in keys:
                if isinstance(values.get(section), dict) and key in values[section]:
                    raise _ConfigError(
                        f"{section}.{key}", "is set by the loop each round; remove it"
                    )
        return _build_checked(RunConfig, values, prefix="")
    except _ConfigError as exc:
        line = _yaml_line(source, exc.key) if source else None
        raise PlumError(f"{where}{f':{line}' if line else ''}: {exc.key}: {exc.message}") from None


class _ConfigError(Exception):
    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def _build_checked(cls: type, values: Any, prefix: str) -> Any:
    """``cls(**values)`` after checking each key exists and each value has the annotated type.

    A typed version of ``plum_exec.config.build``: YAML type slips (``learning_rate: fast``)
    would otherwise surface deep inside a stage, hours into a run.
    """
    where = prefix.rstrip(".") or "config"
    if not isinstance(values, dict):
        raise _ConfigError(where, f"expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise _ConfigError(prefix + unknown[0], f"unknown key (known: {', '.join(sorted(fields))})")
    missing = [name for name, f in fields.items() if name not in values and _required(f)]
    if missing:
        raise _ConfigError(prefix + missing[0], "is required")
    checked = {
        name: _checked_value(_over_default(fields[name], value), hints[name], prefix + name)
        for name, value in values.items()
    }
    try:
        return cls(**checked)
    except (TypeError, ValueError) as exc:  # the section's own validation (__post_init__)
        raise _ConfigError(where, str(exc)) from None


def _over_default(f: dataclasses.Field, value: Any) -> Any:
    """A partial section updates the field's own default (RunConfig's sampling has n=8, not 1)."""
    if isinstance(value, dict) and f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
        if dataclasses.is_dataclass(default):
            return {**dataclasses.asdict(default), **value}
    return value


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _checked_value(value: Any, hint: Any, key: str) -> Any:
    """``value`` converted to ``hint`` where YAML's types differ harmlessly, else a _ConfigError."""
    origin, args = get_origin(hint), get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build_checked(hint, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _checked_value(value, option, key)
            except _ConfigError as exc:
                errors.append(exc.message)
        raise _ConfigError(key, " or ".join(errors))
    if origin is Literal:
        if value not in args:
            raise _ConfigError(key, f"must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin in (list, tuple):
        items = [value] if origin is tuple and isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise _ConfigError(key, f"expected a list, got {type(value).__name__} {value!r}")
        converted = [_checked_value(v, args[0], f"{key}[{i}]") for i, v in enumerate(items)]
        return tuple(converted) if origin is tuple else converted
    if origin is dict:
        if not isinstance(value, dict):
            raise _ConfigError(key, f"expected a mapping, got {type(value).__name__} {value!r}")
        return {str(k): _checked_value(v, args[1], f"{key}.{k}") for k, v in value.items()}
    return _checked_scalar(value, hint, key)


def _checked_scalar(value: Any, hint: Any, key: str) -> Any:
    if hint is Any:
        return value
    if hint is float and isinstance(value, str):
        # YAML 1.1 reads "1e-5" (no dot) as a string; accept what float() accepts.
        try:
            return float(value)
        except ValueError:
            pass
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(hint, True)
    if not ok:
        raise _ConfigError(key, f"expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return float(value) if hint is float else value


def _with_default_seeds(values: dict[str, Any]) -> dict[str, Any]:
    """Copy the top-level seed into each section with a ``seed`` field that the config leaves unset."""
    values = dict(values)
    seed = values.get("seed", 0)
    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        section_cls = _dataclass_of(hints[f.name])
        if section_cls is None or "seed" not in {g.name for g in dataclasses.fields(section_cls)}:
            continue
        # A section left out gets its defaults, so gets the seed too; an optional one stays out.
        section = values.get(f.name, {} if f.default_factory is not dataclasses.MISSING else None)
        if isinstance(section, dict) and "seed" not in section:
            values[f.name] = {**section, "seed": seed}
    return values


def _dataclass_of(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    return next((a for a in get_args(hint) if dataclasses.is_dataclass(a)), None)


def _set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = values
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise PlumError(f"--set {key}: '{part}' is not a section")
    node[last] = value


def _yaml_line(path: Path, dotted: str) -> int | None:
    """1-based line of ``a.b.c`` in a YAML file, for error messages; None when not found there."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for part in dotted.split("[")[0].split("."):
        if not isinstance(node, yaml.MappingNode):
            break
        match = next(((k, v) for k, v in node.value if k.value == part), None)
        if match is None:
            break
        line, node = match[0].start_mark.line + 1, match[1]
    return line


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain data (tuples as lists) for config.yaml and fingerprints, without the loop-owned keys."""
    plain = json.loads(json.dumps(dataclasses.asdict(config)))
    for section, keys in LOOP_OWNED.items():
        for key in keys:
            plain[section].pop(key)
    return plain


def load_eval_set(evaluation: EvalSetsConfig, name: str) -> dict[str, Any]:
    """The problems of one benchmark or split, the first ``evaluation.limit`` of them."""
    from plum_exec.problems import load_benchmark, load_problems_jsonl

    if name in evaluation.splits:
        problems = load_problems_jsonl(evaluation.splits[name])
    else:
        options = evaluation.benchmark_options.get(name, {})
        problems = load_benchmark(name, evaluation.benchmark_files.get(name), **options)
    return dict(list(problems.items())[: evaluation.limit])

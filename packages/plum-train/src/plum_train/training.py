"""Stage 3b: train the policy on preference data with TRL (KTO, DPO) or on passing samples (SFT).

``train(config, data_path, out_dir)`` leaves in ``out_dir``:

- ``checkpoints/``: Trainer checkpoints (and TensorBoard's ``runs/``); an interrupted run resumes
  from the last one,
- ``model/``: the final export, a plain model folder (LoRA merged into the base weights,
  tokenizer padded on the left for batched generation) that the generation backends load,
- ``log_history.json``: Trainer's ``log_history`` (loss, rewards/chosen, rewards/rejected, kl, ...)
  for the report's curves; ``train_config.json``: the resolved config and library versions.

Works unchanged under ``accelerate launch`` (DDP, DeepSpeed ZeRO-2/3, FSDP): every process runs
the same code, Trainer gathers sharded weights into each checkpoint, and only the main process
writes the export and the JSON files.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from plum_exec.datasets_io import dataset_file, iter_rows, resolve
from plum_exec.errors import PlumError
from plum_exec.hub import PushTarget
from plum_exec.jsonl import require, write_json
from plum_exec.sources import model_source
from plum_train.truncation import FitCompletions, Signal

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase, Trainer, TrainingArguments

    from plum_train.grpo import GRPOSettings
    from plum_train.output import LibraryOutput

METHODS = ("kto", "dpo", "sft", "grpo")
EXPORT_DIR = "model"
CHECKPOINT_DIR = "checkpoints"
LOG_FILE = "log_history.json"
TRAIN_LOG = "train.log"  # what the libraries print while training
CONFIG_FILE = "train_config.json"
# Written by ``plum prefs`` beside its data; holds KTO loss weights computed from the label counts.
PREFS_STATS_FILE = "stats.json"
# Each loss's input columns, as TRL's dataset-format docs name them.
COLUMNS = {
    "kto": ("prompt", "completion", "label"),
    "dpo": ("prompt", "chosen", "rejected"),
    "sft": ("prompt", "completion"),
    "grpo": ("prompt", "task_id"),  # plum prompts; the completions come from the policy itself
}
# The config of a ``plum prefs`` dataset each method reads.
DATA_CONFIG = {"kto": "kto", "dpo": "dpo", "sft": "kto", "grpo": "prompts"}
# GRPO learns only from groups whose completions got different rewards.
GRPO_NO_ADVANTAGE = (
    "; or, GRPO, every group's completions got the same reward (all pass or all fail: no advantage; "
    "raise --num-generations, --temperature or --max-completion-length)"
)
REPORTERS = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}
# TRL 1.16's loss names (DPOConfig.loss_type, KTOConfig.loss_type), checked when the config is
# built so that a typo fails as one line before data and models load (plum_train.losses).
LOSS_TYPES = {
    "dpo": ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
            "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm"),
    "kto": ("kto", "apo_zero_unpaired"),
}  # fmt: skip


@dataclass
class TrainConfig:
    """Settings of ``plum train``; each maps onto TRL's KTOConfig / DPOConfig / SFTConfig.

    > Parameters that control the model

    model: the policy to start from (a local folder, or a Hub id where the Hub is reachable).
    lora: train a LoRA adapter (PEFT); the reference policy is then the base model with the
        adapter disabled, so no second copy sits in memory. Without it, every weight trains and
        TRL loads a separate frozen reference copy (or precomputes its log-probs).

    > Parameters that control the training

    learning_rate: 5e-6 suits LoRA; full fine-tuning usually wants 5e-7 to 1e-6 (TRL's 1e-6).
    desirable_weight / undesirable_weight: unset means "from ``stats.json`` beside the data"
        (written by ``plum prefs --balance weights``), else 1.0.
    bf16: mixed precision on a GPU; ignored on CPU, where bf16 autocast is slow.
    """

    method: Literal["kto", "dpo", "sft", "grpo"] = field(
        default="kto",
        metadata={
            "help": "kto (labelled samples), dpo (pairs), sft (passing samples only) or grpo (online RL on prompts, "
            "rewarded by the tests: the --problems ... flags)",
            "choices": list(METHODS),
        },
    )
    model: str = field(default="", metadata={"help": "policy model folder to start from"})
    lora: bool = field(
        default=True,
        metadata={"help": "train a LoRA adapter (merged at export) instead of all weights"},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"],
        metadata={
            "help": "modules that get LoRA adapters; all-linear = every linear layer but the output head"
        },
    )
    learning_rate: float = field(default=5e-6, metadata={"help": "peak learning rate (AdamW)"})
    lr_scheduler_type: str = field(
        default="cosine", metadata={"help": "transformers scheduler name"}
    )
    warmup_steps: float = field(
        default=0.1, metadata={"help": "warmup steps; below 1, a fraction of all steps"}
    )
    num_train_epochs: float = field(
        default=1.0, metadata={"help": "passes over the data (when max_steps < 0)"}
    )
    max_steps: int = field(
        default=-1, metadata={"help": "optimizer steps; overrides epochs when > 0"}
    )
    per_device_train_batch_size: int = field(
        default=4, metadata={"help": "batch per device (KTO: must be > 1)"}
    )
    gradient_accumulation_steps: int = field(
        default=4, metadata={"help": "micro-batches per optimizer step"}
    )
    beta: float = field(
        default=0.1, metadata={"help": "KTO/DPO beta: higher stays closer to the reference"}
    )
    desirable_weight: float | None = field(
        default=None, metadata={"help": "KTO weight of desirable rows"}
    )
    undesirable_weight: float | None = field(
        default=None, metadata={"help": "KTO weight of undesirable rows"}
    )
    max_length: int = field(
        default=1024,
        metadata={"help": "max tokens of prompt + completion (long prompts lose their start first)"},
    )
    precompute_ref_log_probs: bool = field(
        default=False,
        metadata={
            "help": "KTO/DPO: compute reference log-probs once before training (saves memory)"
        },
    )
    gradient_checkpointing: bool = field(
        default=True, metadata={"help": "recompute activations to save memory"}
    )
    bf16: bool = field(
        default=True, metadata={"help": "bf16 mixed precision on GPU (ignored on CPU)"}
    )
    liger_kernel: bool = field(
        default=False,
        metadata={
            "help": "Liger's Triton kernels for RMSNorm, SwiGLU and RoPE (CUDA; pip install "
            "'plum-train[liger]'): +21% full-KTO tokens/s on an H200 (docs/gpu.md)"
        },
    )
    seed: int = field(default=0, metadata={"help": "seed for initialisation (LoRA) and data order"})
    report_to: list[str] = field(
        default_factory=lambda: ["none"],
        metadata={
            "help": "where to log live: tensorboard, wandb, none",
            "choices": ["tensorboard", "wandb", "none"],
        },
    )
    loss_type: list[str] = field(
        default_factory=list,
        metadata={
            "help": "TRL's preference loss; dpo: sigmoid (default), ipo, apo_zero, sft, ... (several "
            "are summed, weighted by --loss-weights); kto: kto (default) or apo_zero_unpaired"
        },
    )
    loss_weights: list[float] = field(
        default_factory=list, metadata={"help": "dpo: one weight per --loss-type (default 1 each)"}
    )
    rpo_alpha: float | None = field(
        default=None,
        metadata={
            "help": "add this weight x the NLL of the chosen (dpo) or desirable (kto) completions, as "
            "iterative RPO does: keeps passing programs likely while failing ones are pushed down"
        },
    )
    logging_steps: int = field(default=1, metadata={"help": "optimizer steps between log records"})
    save_steps: int = field(default=100, metadata={"help": "optimizer steps between checkpoints"})
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints kept (oldest deleted)"})

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for name in (
            "lora_r",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "max_length",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        _check_loss_options(self)
        unknown = sorted(set(self.report_to) - {"tensorboard", "wandb", "none"})
        if unknown:
            raise ValueError(
                f"report_to: unknown {', '.join(unknown)} (use tensorboard, wandb or none)"
            )


def _check_loss_options(config: TrainConfig) -> None:
    """The preference-loss options fit the method (ValueError: the config's one-line error)."""
    method = config.method
    if method == "sft" and (config.loss_type or config.loss_weights or config.rpo_alpha is not None):
        raise ValueError("loss_type, loss_weights and rpo_alpha apply to kto and dpo, not sft")
    unknown = [name for name in config.loss_type if name not in LOSS_TYPES.get(method, ())]
    if unknown:
        raise ValueError(f"loss_type {unknown[0]!r} is not a TRL {method} loss ({', '.join(LOSS_TYPES[method])})")
    if method == "kto" and (len(config.loss_type) > 1 or config.loss_weights):
        raise ValueError("kto takes one loss_type and no loss_weights (its weights are desirable/undesirable_weight)")
    if config.loss_weights and len(config.loss_weights) != len(config.loss_type):
        raise ValueError(f"loss_weights: {len(config.loss_weights)} weights for {len(config.loss_type)} loss types")
    if config.rpo_alpha is not None and config.rpo_alpha < 0:
        raise ValueError(f"rpo_alpha must be >= 0, got {config.rpo_alpha}")


def train(config: TrainConfig, data_path: str | Path, out_dir: str | Path, push: PushTarget | None = None,
          grpo: GRPOSettings | None = None) -> Path:  # fmt: skip
    """Train on ``data_path`` and return the exported model folder.

    ``data_path`` is a dataset spec (``plum_exec.datasets_io``): TRL-format JSONL, a dataset
    folder, or a Hub dataset; a preference dataset's config is picked by the method (``kto`` for
    kto and sft, ``dpo`` for dpo). Rerunning with the same folder resumes from the last
    checkpoint, or returns at once when the export is already there; a folder started with
    another config or data is refused. The export is the final checkpoint (LoRA merged into the
    base weights, in the policy's dtype) with the policy's tokenizer. With ``push``, the trainer
    pushes the trained model (or LoRA adapter) with a model card naming the data and its sha.
    ``grpo`` holds the settings of ``method="grpo"`` (``plum_train.grpo``): its reward's problems.
    """
    out_dir, data = Path(out_dir), str(data_path)
    grpo = _grpo_settings(config, grpo)
    export_dir = out_dir / EXPORT_DIR
    _check_reporters(config.report_to)
    _check_liger(config.liger_kernel)
    rows = _read_rows(data, config)
    weights = _kto_loss_weights(config, data)
    record = _config_record(config, data, weights)
    if grpo is not None:
        record["grpo"] = grpo.record()
    _check_same_config(out_dir / CONFIG_FILE, record)
    # The export is renamed into place last, so it exists only when complete.
    if export_dir.is_dir() and push is None:
        return export_dir
    from plum_train.output import LibraryOutput

    with LibraryOutput(out_dir / TRAIN_LOG) as output:
        tokenizer = load_tokenizer(config.model)
        args = _trl_args(config, weights, out_dir, push, grpo)
        state = args.distributed_state
        if state.is_main_process:
            write_json(out_dir / CONFIG_FILE, record)
            _say_kto_balance(rows, weights, output)

        checkpoint = _last_checkpoint(out_dir / CHECKPOINT_DIR)
        history: list[dict[str, Any]] | None = None
        # Resuming from the final checkpoint would still run one more step (transformers checks
        # max_steps only after a step), so a finished training goes straight to the export.
        trainer = None
        if checkpoint is None or not _is_final(checkpoint):
            trainer = _build_trainer(config, args, _to_dataset(rows), tokenizer, output, grpo)
            _check_signal(getattr(trainer, "signal", None), data, config, output if state.is_main_process else None)
            start = _trainer_state(checkpoint)["global_step"] if checkpoint else 0
            trainer.train(resume_from_checkpoint=checkpoint)  # checkpoints its last step too
            _check_learning_signal(trainer.state.log_history, start, config)
            checkpoint = _last_checkpoint(out_dir / CHECKPOINT_DIR)
            history = trainer.state.log_history  # the checkpoint's copy lacks the final summary (runtime)
        if state.is_main_process and not export_dir.is_dir():
            _export(checkpoint, config, tokenizer, export_dir)
            write_json(out_dir / LOG_FILE, history if history is not None else _trainer_state(checkpoint)["log_history"])
        state.wait_for_everyone()
        if push is not None:
            if trainer is None:  # trained by an earlier run: the trainer pushes that run's final checkpoint
                trainer = _build_trainer(config, args, _to_dataset(rows), tokenizer, output, grpo)
                trainer._load_from_checkpoint(str(checkpoint))
            _push_model(trainer, push, record, output)
    return export_dir


def _push_model(trainer: Trainer, push: PushTarget, record: dict[str, Any], output: LibraryOutput) -> None:
    """The trainer's own push (model or adapter, tokenizer, TRL's model card), with the card's
    provenance added: the preference data with the commit sha it was read at, the config."""
    from plum_exec.cards import redact

    data = record["data"]
    dataset_name = data.get("hub_id") or data.get("path")
    write_card = trainer.create_model_card

    def card_with_provenance(*args: Any, **kwargs: Any) -> None:
        write_card(*args, **kwargs)
        card = Path(trainer.args.output_dir) / "README.md"
        if card.is_file():
            body = json.dumps(record, indent=2, default=str)
            card.write_text(card.read_text("utf-8") + redact(
                f"\n## Training data and settings (plum train)\n\nTrained on `{dataset_name}`"
                + (f" at commit `{data['sha']}`" if data.get("sha") else "")
                + f".\n\n```json\n{body}\n```\n"
            ), encoding="utf-8")  # fmt: skip

    trainer.create_model_card = card_with_provenance  # type: ignore[method-assign]
    info = trainer.push_to_hub(
        commit_message=f"plum train: {record['config']['method']} on {dataset_name}",
        dataset_name=dataset_name,
        tags=["plum", record["config"]["method"]],
    )
    if trainer.is_world_process_zero():
        sha = getattr(info, "oid", None)
        print(f"pushed {push.repo_id}: {getattr(info, 'repo_url', push.repo_id)} (commit {sha})",
              file=output.stdout, flush=True)  # fmt: skip


# --- checks that would otherwise fail late inside TRL ------------------------------------------


def _check_signal(signal: Signal | None, data: str, config: TrainConfig, output: LibraryOutput | None) -> None:
    """Rows that truncation leaves without signal train on nothing: an error when no row is left,
    a warning with the count otherwise (``output`` is None off the main process)."""
    if signal is None or not signal.without:
        return
    if signal.without == signal.rows:
        raise PlumError(f"{data}: nothing to learn: {signal.describe(config.max_length)}; raise --max-length")
    if output is not None:
        output.say(f"warning: {signal.describe(config.max_length)}; they add nothing (raise --max-length to keep them)")


def _check_learning_signal(history: list[dict[str, Any]], start: int, config: TrainConfig) -> None:
    """Some step of this run (after ``start``, where it resumed) applied a nonzero learning rate to
    a nonzero gradient. Weights that moved prove nothing: Adam turns floating-point noise, and a
    resumed optimizer's momentum, into learning-rate-sized steps. Noise-only gradients come from
    rows whose tokens carry no preference, which ``_check_signal`` counts exactly before training."""
    steps = [entry for entry in history if entry.get("step", 0) > start and "grad_norm" in entry]
    if any(entry["learning_rate"] > 0 and 0 < entry["grad_norm"] < math.inf for entry in steps):
        return
    largest = max(steps, key=lambda entry: entry["learning_rate"], default={"learning_rate": 0.0, "grad_norm": 0.0})
    raise PlumError(
        f"training had no learning signal: no step of this run applied a nonzero learning rate to a "
        f"nonzero gradient (steps {start + 1}-{history[-1].get('step', start) if history else start}, "
        f"largest learning rate {largest['learning_rate']:.3g} with gradient norm {largest['grad_norm']:.3g}); "
        f"check --learning-rate {config.learning_rate} (warmup starts at zero, so a 1-step run with "
        f"--warmup-steps {config.warmup_steps} trains nothing) and that the trained weights get gradients"
        + (GRPO_NO_ADVANTAGE if config.method == "grpo" else "")
    )


def _say_kto_balance(rows: list[dict[str, Any]], weights: dict[str, float], output: LibraryOutput) -> None:
    """The KTO paper's range for the weights (Eq. 8, as TRL's docs state it), said once in plum's
    words; TRL's own warning goes to the log."""
    if not weights:
        return
    desirable = sum(row["label"] for row in rows)
    undesirable = len(rows) - desirable
    passing = weights["desirable_weight"] * desirable
    failing = weights["undesirable_weight"] * undesirable
    if failing and 1 <= passing / failing <= 4 / 3:
        return
    low, high = passing / (4 / 3) / undesirable, passing / undesirable
    share = failing / passing if passing else math.inf
    output.say(
        f"warning: KTO weights give failing samples {share:.2g} times the weight of passing ones in all "
        f"(undesirable_weight {weights['undesirable_weight']:g} x {undesirable} rows, desirable_weight "
        f"{weights['desirable_weight']:g} x {desirable}); the KTO paper's balance is 0.75 to 1, and outside "
        f"it the lighter side teaches little. For that balance use --undesirable-weight {low:.3g} to "
        f"{high:.3g} (plum prefs --balance weights writes such weights to stats.json), or keep these on purpose"
    )


def _read_rows(path: str, config: TrainConfig) -> list[dict[str, Any]]:
    """Rows with the method's columns, validated with file:line errors; SFT keeps passing rows only."""
    columns = COLUMNS[config.method]
    rows = []
    for where, row in iter_rows(path, default_config=DATA_CONFIG[config.method]):
        for column in columns:
            require(row, column, where, bool if column == "label" else (str, list))
        # SFT is rejection-sampling fine-tuning: KTO files carry both labels, keep the passing rows.
        if config.method == "sft" and "label" in row and not require(row, "label", where, bool):
            continue
        rows.append({column: row[column] for column in columns})
    _check_rows(rows, path, config)
    return rows


def _check_rows(rows: list[dict[str, Any]], path: str, config: TrainConfig) -> None:
    if config.method == "dpo" and not rows:
        raise PlumError(
            f"{path}: no preference pairs for DPO (every problem had all or no samples passing?)"
        )
    if config.method == "sft" and not rows:
        raise PlumError(
            f"{path}: no passing samples to fine-tune on (sft keeps rows with label true)"
        )
    if config.method == "grpo" and not rows:
        raise PlumError(f"{path}: no prompts to train on (GRPO reads rows with prompt and task_id)")
    if config.method == "kto":
        n_desirable = sum(row["label"] for row in rows)
        if n_desirable in (0, len(rows)):
            raise PlumError(
                f"{path}: KTO needs both desirable and undesirable rows, got {n_desirable} desirable "
                f"and {len(rows) - n_desirable} undesirable"
            )
        if config.per_device_train_batch_size < 2:
            raise PlumError(
                "KTO needs per_device_train_batch_size > 1: it estimates its KL term from the other "
                f"completions in the same batch (got {config.per_device_train_batch_size})"
            )


def _check_reporters(report_to: list[str]) -> None:
    for name in report_to:
        modules = REPORTERS.get(name, ())
        if modules and not any(importlib.util.find_spec(m) for m in modules):
            raise PlumError(
                f"report_to={name} needs the '{modules[0]}' package (pip install {modules[0]})"
            )


def _grpo_settings(config: TrainConfig, grpo: GRPOSettings | None) -> GRPOSettings | None:
    """The GRPO section when the method is grpo (checked now, not inside TRL); None otherwise."""
    if config.method != "grpo":
        return None
    from plum_train.grpo import GRPOSettings

    grpo = grpo or GRPOSettings()
    grpo.check(config)
    return grpo


def _check_liger(wanted: bool) -> None:
    """Liger's kernels are Triton GPU kernels: say so before loading anything."""
    if not wanted:
        return
    if importlib.util.find_spec("liger_kernel") is None:
        raise PlumError("--liger-kernel needs the liger-kernel package (pip install 'plum-train[liger]')")
    import torch

    if not torch.cuda.is_available():
        raise PlumError("--liger-kernel needs a CUDA GPU (its kernels are Triton GPU kernels)")


def _kto_loss_weights(config: TrainConfig, data: str) -> dict[str, float]:
    """Explicit weights win; otherwise those ``plum prefs`` computed from the label counts; else 1."""
    if config.method != "kto":
        return {}
    stats_path = dataset_file(data, PREFS_STATS_FILE)
    from_prefs: dict[str, float] = {}
    if stats_path is not None:
        try:
            from_prefs = json.loads(stats_path.read_text(encoding="utf-8")).get("kto_weights", {})
        except json.JSONDecodeError as exc:
            raise PlumError(f"{stats_path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
    return {
        name: float(value if value is not None else from_prefs.get(name, 1.0))
        for name, value in (
            ("desirable_weight", config.desirable_weight),
            ("undesirable_weight", config.undesirable_weight),
        )
    }


def load_tokenizer(model: str) -> PreTrainedTokenizerBase:
    """The policy's tokenizer, set up for batched generation; a bad model path is a PlumError.

    Loading it is the first place a wrong ``--model`` shows up, so it says so plainly.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_source(model))
    except (OSError, ValueError) as exc:
        raise PlumError(
            f"model {model!r}: no such folder, and not loadable ({str(exc).splitlines()[0]})"
        ) from None
    # Left padding is what batched generation needs; TRL's collators pad on their own.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _config_record(
    config: TrainConfig, data: str, weights: dict[str, float]
) -> dict[str, Any]:
    import peft
    import torch
    import transformers
    import trl

    return {
        "config": dataclasses.asdict(config),
        "data": _data_record(data, config.method),
        "kto_weights": weights,
        "versions": {m.__name__: m.__version__ for m in (trl, transformers, peft, torch)},
    }


def _data_record(data: str, method: str) -> dict[str, Any]:
    """What was trained on: a file or folder by absolute path and sha256, a Hub dataset by commit sha."""
    source = resolve(data, default_config=DATA_CONFIG[method])
    record = source.provenance()
    if "path" in record:
        record["path"] = str(Path(record["path"]).resolve())
    return record


def _check_same_config(path: Path, record: dict[str, Any]) -> None:
    """Resuming with other settings would mix two trainings in one checkpoint folder."""
    if not path.is_file():
        return
    previous = json.loads(path.read_text(encoding="utf-8"))
    changed = [
        key for key, value in record["config"].items() if previous["config"].get(key) != value
    ]
    if isinstance(previous.get("data"), str):  # written before datasets were recorded with their hash
        previous["data"] = {**record["data"], "path": previous["data"]}
    changed += [key for key in ("data", "kto_weights", "grpo") if previous.get(key) != record.get(key)]
    if changed:
        raise PlumError(
            f"{path.parent}: was trained with different {', '.join(changed)}; use a new output folder"
        )


# --- TRL --------------------------------------------------------------------------------------


def _to_dataset(rows: list[dict[str, Any]]) -> Dataset:
    from datasets import Dataset

    return Dataset.from_list(rows)


def _trl_args(config: TrainConfig, weights: dict[str, float], out_dir: Path,
              push: PushTarget | None = None, grpo: GRPOSettings | None = None) -> TrainingArguments:  # fmt: skip
    """The method's TRL config; building it also sets up the (distributed) process state."""
    import torch
    from trl import DPOConfig, KTOConfig, SFTConfig

    common: dict[str, Any] = dict(
        output_dir=str(out_dir / CHECKPOINT_DIR),
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_steps,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_length=config.max_length,
        gradient_checkpointing=config.gradient_checkpointing,
        # Non-reentrant checkpointing passes gradients to LoRA weights even when the inputs need
        # none (the reentrant kind silently gives frozen-base PEFT models no gradient).
        gradient_checkpointing_kwargs={"use_reentrant": False},
        bf16=config.bf16 and torch.cuda.is_available(),
        use_liger_kernel=config.liger_kernel,
        seed=config.seed,
        data_seed=config.seed,
        report_to=config.report_to,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        disable_tqdm=True,  # plum's Progress callback prints its own lines
    )
    if push is not None:  # pushed once, at the end (plum calls trainer.push_to_hub itself)
        common.update(hub_model_id=push.repo_id, hub_private_repo=push.private, hub_strategy="end")
        if push.branch:
            common["hub_revision"] = push.branch
    if grpo is not None:
        from plum_train.grpo import grpo_args

        return grpo_args(common, config, grpo)
    preference = dict(beta=config.beta, precompute_ref_log_probs=config.precompute_ref_log_probs)
    if config.method == "kto":
        return KTOConfig(**common, **preference, **weights, loss_type=(config.loss_type or ["kto"])[0])
    if config.method == "dpo":
        from plum_train.losses import dpo_losses

        return DPOConfig(**common, **preference, **dpo_losses(config.loss_type, config.loss_weights, config.rpo_alpha))
    return SFTConfig(**common)


def _build_trainer(
    config: TrainConfig,
    args: TrainingArguments,
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    output: LibraryOutput,
    grpo: GRPOSettings | None = None,
) -> Trainer:
    from transformers import PrinterCallback
    from trl import DPOTrainer, KTOTrainer, SFTTrainer

    from plum_train.output import Progress

    if grpo is not None:
        from plum_train.grpo import grpo_trainer

        peft = _lora_config(config) if config.lora else None
        trainer = grpo_trainer(config, args, dataset, tokenizer, grpo, peft, [Progress(output)])
        trainer.remove_callback(PrinterCallback)
        return trainer
    base = {"kto": KTOTrainer, "dpo": DPOTrainer, "sft": SFTTrainer}[config.method]
    extra: dict[str, Any] = {}
    if config.method == "kto" and config.rpo_alpha:  # TRL's KTO has no NLL term: plum's subclass adds it
        from plum_train.losses import KTOWithNLLTrainer

        base, extra = KTOWithNLLTrainer, {"rpo_alpha": config.rpo_alpha}
    trainer_cls = type(f"Plum{base.__name__}", (FitCompletions, base), {})
    trainer = trainer_cls(
        **extra,
        model=config.model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=_lora_config(config) if config.lora else None,
        callbacks=[Progress(output)],
    )
    trainer.remove_callback(PrinterCallback)  # its log lines would print every record
    return trainer


def _lora_config(config: TrainConfig) -> Any:
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        # PEFT takes the shortcut only as a bare string, not inside a list.
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )


def _last_checkpoint(folder: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(last) if last else None


def _trainer_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))


def _is_final(checkpoint: Path) -> bool:
    state = _trainer_state(checkpoint)
    return state["global_step"] >= state["max_steps"]


# --- export ------------------------------------------------------------------------------------


def _export(
    checkpoint: Path, config: TrainConfig, tokenizer: PreTrainedTokenizerBase, export_dir: Path
) -> None:
    """Write the final checkpoint as a plain model folder, atomically (renamed into place last).

    Main process only: the checkpoint already holds whole weights, gathered by Trainer when it
    saved them under ZeRO-3 (``zero3_save_16bit_model``) or FSDP (``FULL_STATE_DICT``).
    """
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.integrations import unset_hf_deepspeed_config

    # Training is over; a live ZeRO-3 config would make these one-process loads wait for the
    # other ranks to join a partitioned init.
    unset_hf_deepspeed_config()
    partial = export_dir.with_name(f".{export_dir.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    # In the policy's own dtype (full fine-tuning trains fp32 master weights), so every round's
    # model has the size and precision of the one it started from.
    dtype = AutoConfig.from_pretrained(config.model).dtype
    if config.lora:
        base = AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype)
        model = PeftModel.from_pretrained(base, str(checkpoint)).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(export_dir)

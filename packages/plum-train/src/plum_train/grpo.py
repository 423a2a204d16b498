"""GRPO: online RL with TRL's ``GRPOTrainer``, rewarded by plum's sandboxed judge.

``plum train --method grpo --data PROMPTS --problems TESTS`` trains on a prompts dataset (columns
``prompt``, chat messages or text, and ``task_id``, as ``plum prompts`` writes it): each step the
policy writes ``num_generations`` completions per prompt (TRL's own generation: vLLM when it is
installed, transformers otherwise), ``plum_exec.rewards.PlumTestReward`` runs each program against
its problem's tests in a warm sandbox pool, and the group-relative advantages move the policy
toward the completions that pass more tests. Checkpoints, resume and the export are
``training.train``'s, as for KTO / DPO / SFT.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from plum_exec.errors import PlumError
from plum_exec.evaluation import EvaluationConfig

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase, Trainer, TrainingArguments

    from plum_train.training import TrainConfig

PROMPTS_CONFIG = "prompts"  # the config name of ``plum prompts``'s dataset
LOSS_TYPES = ("grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo", "luspo", "vespo")


@dataclass
class GRPOSettings:
    """The ``grpo`` section of ``plum train --method grpo`` (and of a run config): what TRL's
    ``GRPOConfig`` takes beyond the common training settings, and what the reward judges.
    ``beta`` (the KL coefficient) is ``TrainConfig.beta``; 0 turns the KL term and the reference
    model off.

    > Parameters that control the reward

    problems: the problems with tests the reward runs completions against (testgen's output, a
        dataset folder, a Hub id), or ``benchmark`` (with ``dataset_path``) for a known one.
    all_pass: reward 1 only when every test passes (the verdict), instead of the pass fraction.
    execution: the sandbox and time limits (a run config's ``execution`` section; no flags).

    > Parameters that control generation

    num_generations: completions per prompt (the group). The generation batch,
        ``per_device_train_batch_size * gradient_accumulation_steps``, must be a multiple of it.
    vllm: ``auto`` uses vLLM (colocated) when it is installed, ``on`` insists, ``off`` uses
        transformers' ``generate``.
    """

    problems: str = field(default="", metadata={"help": "GRPO: problems with tests the reward judges (JSONL, folder, Hub id)"})
    benchmark: str | None = field(default=None, metadata={"help": "GRPO: a known benchmark's problems instead of --problems"})
    dataset_path: str | None = field(default=None, metadata={"help": "GRPO: local data file for --benchmark"})
    all_pass: bool = field(default=False, metadata={"help": "GRPO: reward 1/0 for all tests passing instead of the pass fraction"})
    num_generations: int = field(default=8, metadata={"help": "GRPO: completions per prompt (the group)"})
    max_completion_length: int = field(default=256, metadata={"help": "GRPO: max new tokens per completion"})
    temperature: float = field(default=1.0, metadata={"help": "GRPO: sampling temperature"})
    top_p: float = field(default=1.0, metadata={"help": "GRPO: nucleus sampling"})
    grpo_loss_type: str = field(default="dapo", metadata={"help": "GRPO: TRL's loss_type", "choices": list(LOSS_TYPES)})
    epsilon: float = field(default=0.2, metadata={"help": "GRPO: clipping range of the ratio"})
    scale_rewards: str = field(
        default="group", metadata={"help": "GRPO: advantage scaling", "choices": ["group", "batch", "none"]}
    )
    num_iterations: int = field(default=1, metadata={"help": "GRPO: optimisation passes per generation batch"})
    mask_truncated_completions: bool = field(
        default=False, metadata={"help": "GRPO: leave completions cut at max_completion_length out of the loss"}
    )
    vllm: Literal["auto", "on", "off"] = field(
        default="auto", metadata={"help": "GRPO: generate with vLLM (colocated) when installed", "choices": ["auto", "on", "off"]}
    )
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={"help": "GRPO: vLLM's share of GPU memory"})
    execution: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ValueError(f"num_generations must be >= 2 (advantages are relative to the group), got {self.num_generations}")
        if self.max_completion_length < 1:
            raise ValueError(f"max_completion_length must be >= 1, got {self.max_completion_length}")
        if isinstance(self.execution, dict):  # from YAML
            self.execution = EvaluationConfig(**self.execution)

    def check(self, config: TrainConfig) -> None:
        """What would otherwise fail late inside TRL (or judge nothing)."""
        if not self.problems and not self.benchmark:
            raise PlumError("--method grpo needs --problems (the tests the reward runs) or --benchmark")
        batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
        if batch % self.num_generations:
            raise PlumError(
                f"GRPO: per_device_train_batch_size x gradient_accumulation_steps = {batch} must be a multiple "
                f"of num_generations = {self.num_generations} (whole groups per generation batch)"
            )
        if self.vllm == "on" and not _vllm_installed():
            raise PlumError("--vllm on: vLLM is not installed (pip install vllm), or use --vllm auto")

    def reward(self) -> Any:
        from plum_exec.rewards import PlumTestReward

        if self.benchmark:
            return PlumTestReward(benchmark=self.benchmark, dataset_path=self.dataset_path, execution=self.execution,
                                  all_pass=self.all_pass)  # fmt: skip
        return PlumTestReward(self.problems, execution=self.execution, all_pass=self.all_pass)

    def record(self) -> dict[str, Any]:
        """What decides the training (for the resume check): the judge's worker count does not."""
        plain = dataclasses.asdict(self)
        plain["execution"].pop("workers")
        return plain


def _vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def grpo_args(common: dict[str, Any], config: TrainConfig, grpo: GRPOSettings) -> TrainingArguments:
    """TRL's GRPOConfig from the common settings (``training._trl_args``) and the section."""
    from trl import GRPOConfig

    common = {k: v for k, v in common.items() if k != "max_length"}  # GRPO: max_completion_length
    return GRPOConfig(
        **common,
        beta=config.beta,
        num_generations=grpo.num_generations,
        max_completion_length=grpo.max_completion_length,
        temperature=grpo.temperature,
        top_p=grpo.top_p,
        loss_type=grpo.grpo_loss_type,
        epsilon=grpo.epsilon,
        scale_rewards=grpo.scale_rewards,
        num_iterations=grpo.num_iterations,
        mask_truncated_completions=grpo.mask_truncated_completions,
        use_vllm=grpo.vllm == "on" or (grpo.vllm == "auto" and _vllm_installed()),
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=grpo.vllm_gpu_memory_utilization,
    )


def grpo_trainer(
    config: TrainConfig, args: TrainingArguments, dataset: Dataset, tokenizer: PreTrainedTokenizerBase,
    grpo: GRPOSettings, peft_config: Any, callbacks: list[Any],
) -> Trainer:  # fmt: skip
    from trl import GRPOTrainer

    reward = grpo.reward()
    unknown = sorted(set(dataset["task_id"]) - set(reward.problems))
    if unknown:
        raise PlumError(
            f"{len(unknown)} prompts' task_id have no problem in {grpo.problems or grpo.benchmark} "
            f"(first: {unknown[0]!r}): the prompts and --problems must come from the same problems"
        )
    return GRPOTrainer(
        model=config.model,
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )

"""plum train: KTO / DPO / SFT through TRL with LoRA and full fine-tuning on the tiny model.

Each training runs 2 optimizer steps on a dozen short rows (a few seconds on CPU).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from plum_exec.command import run_main
from plum_exec.errors import PlumError
from plum_exec.jsonl import write_jsonl
from plum_train.cli import cli
from plum_train.training import TrainConfig, train

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def main(argv: list[str]) -> int:
    return run_main(cli, argv, "plum-train")

TINY = dict(
    max_steps=2,
    per_device_train_batch_size=2,
    gradient_accumulation_steps=1,
    max_length=128,  # the fixtures' rows fit whole (prompt 79 + completion 29-30 tokens)
    learning_rate=1e-2,  # large enough that 2 steps visibly move a random tiny model
    warmup_steps=0,
    save_steps=1,
)


def tiny_config(model: Path, **overrides: Any) -> TrainConfig:
    return TrainConfig(**{"model": str(model), **TINY, **overrides})


@pytest.fixture
def prefs_dir(tmp_path: Path) -> Path:
    """Conversational KTO/DPO data in TRL's format as ``plum prefs`` writes it (3 problems, both
    labels, 14 pairs; tests/fixtures/prefs, so plum-train is tested without plum-data)."""
    return Path(shutil.copytree(FIXTURES / "prefs", tmp_path / "prefs"))


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def assert_loads_and_generates(model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    batch = tokenizer(["def add(a, b):", "Write f"], return_tensors="pt", padding=True)
    out = model.generate(
        **batch, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    assert out.shape[0] == 2 and out.shape[1] > batch["input_ids"].shape[1]  # new tokens for both


@pytest.mark.parametrize(
    ("method", "data", "lora"),
    [
        ("kto", "kto.jsonl", True),
        ("kto", "kto.jsonl", False),
        ("dpo", "dpo.jsonl", True),
        ("dpo", "dpo.jsonl", False),
        ("sft", "kto.jsonl", True),
        ("sft", "kto.jsonl", False),
    ],
)
def test_trains_and_exports_a_loadable_model(
    tmp_path, tiny_model_dir, prefs_dir, method, data, lora
):
    # LoRA runs use TRL's default gradient checkpointing; full runs turn it off: both paths covered.
    config = tiny_config(tiny_model_dir, method=method, lora=lora, gradient_checkpointing=lora)
    model_dir = train(config, prefs_dir / data, tmp_path / "train")

    assert model_dir == tmp_path / "train" / "model"
    assert not (model_dir / "adapter_config.json").exists()  # LoRA merged: a plain model folder
    assert not (model_dir / "training_args.bin").exists()
    before, after = weights(tiny_model_dir), weights(model_dir)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before), "training changed no weight"
    assert_loads_and_generates(model_dir)

    history = json.loads((tmp_path / "train" / "log_history.json").read_text())
    steps = [entry for entry in history if "loss" in entry]
    assert [e["step"] for e in steps] == [1, 2]
    logged = set().union(*steps)  # a KTO batch of 2 may hold one label only: look at all steps
    if method != "sft":
        assert {"rewards/chosen", "rewards/rejected"} <= logged
    if method == "kto":
        assert "kl" in logged
    record = json.loads((tmp_path / "train" / "train_config.json").read_text())
    assert record["config"]["method"] == method and "trl" in record["versions"]


def test_sft_trains_only_on_passing_rows(tmp_path, tiny_model_dir, prefs_dir):
    from plum_train.training import _read_rows

    rows = _read_rows(prefs_dir / "kto.jsonl", tiny_config(tiny_model_dir, method="sft"))
    assert len(rows) == 5 and all(
        set(row) == {"prompt", "completion"} for row in rows
    )  # 2 + 2 + 1 passing


def test_export_keeps_the_policy_dtype(tmp_path, tiny_model_dir, prefs_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    policy = tmp_path / "bf16-policy"
    AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16).save_pretrained(
        policy
    )
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(policy)
    # Full fine-tuning trains fp32 master weights; the export goes back to the policy's bf16.
    config = tiny_config(policy, lora=False, max_steps=1, gradient_checkpointing=False)
    exported = weights(train(config, prefs_dir / "kto.jsonl", tmp_path / "train"))
    assert {t.dtype for t in exported.values()} == {torch.bfloat16}


def test_precomputed_reference_log_probs(tmp_path, tiny_model_dir, prefs_dir):
    config = tiny_config(tiny_model_dir, method="dpo", lora=False, precompute_ref_log_probs=True)
    model_dir = train(config, prefs_dir / "dpo.jsonl", tmp_path / "train")
    assert_loads_and_generates(model_dir)


def test_kto_weights_come_from_prefs_stats(tmp_path, tiny_model_dir, prefs_dir):
    stats = json.loads((prefs_dir / "stats.json").read_text())
    train(tiny_config(tiny_model_dir, max_steps=1), prefs_dir / "kto.jsonl", tmp_path / "train")
    record = json.loads((tmp_path / "train" / "train_config.json").read_text())
    assert (
        record["kto_weights"]
        == stats["kto_weights"]
        != {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    )


def test_resume_after_a_crash_gives_the_same_model(tmp_path, tiny_model_dir, prefs_dir):
    out = tmp_path / "train"
    config = tiny_config(tiny_model_dir, max_steps=3, gradient_checkpointing=False)
    first = weights(train(config, prefs_dir / "kto.jsonl", out))

    def assert_same_result() -> None:
        assert all(torch.equal(first[k], v) for k, v in weights(out / "model").items())
        history = json.loads((out / "log_history.json").read_text())
        assert [e["step"] for e in history if "loss" in e] == [1, 2, 3]

    # Finished: returns the export as it is.
    stamp = (out / "model" / "model.safetensors").stat().st_mtime_ns
    train(config, prefs_dir / "kto.jsonl", out)
    assert (out / "model" / "model.safetensors").stat().st_mtime_ns == stamp

    # Crashed after the final checkpoint, before the export: exports it, trains nothing more.
    shutil.rmtree(out / "model")
    (out / "log_history.json").unlink()
    train(config, prefs_dir / "kto.jsonl", out)
    assert_same_result()

    # Crashed during step 3: resumes from checkpoint-2 and trains step 3 only.
    shutil.rmtree(out / "model")
    shutil.rmtree(out / "checkpoints" / "checkpoint-3")
    (out / "log_history.json").unlink()
    train(config, prefs_dir / "kto.jsonl", out)
    assert_same_result()
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-3",
    ]


def test_resume_with_another_config_is_refused(tmp_path, tiny_model_dir, prefs_dir):
    train(tiny_config(tiny_model_dir, max_steps=1), prefs_dir / "kto.jsonl", tmp_path / "train")
    with pytest.raises(
        PlumError, match="was trained with different learning_rate; use a new output folder"
    ):
        train(
            tiny_config(tiny_model_dir, max_steps=1, learning_rate=1e-3),
            prefs_dir / "kto.jsonl",
            tmp_path / "train",
        )


# --- errors before TRL would fail late -----------------------------------------------------------


def kto_rows(labels: list[bool]) -> list[dict[str, Any]]:
    return [
        {"prompt": f"Write f{i}", "completion": f"def f{i}(): pass", "label": label}
        for i, label in enumerate(labels)
    ]


@pytest.mark.parametrize(
    ("method", "rows", "overrides", "message"),
    [
        (
            "kto",
            kto_rows([True, False, True]),
            {"per_device_train_batch_size": 1},
            "per_device_train_batch_size > 1",
        ),
        (
            "kto",
            kto_rows([True, True, True]),
            {},
            "KTO needs both desirable and undesirable rows, got 3 desirable and 0",
        ),
        ("kto", kto_rows([False, False]), {}, "got 0 desirable and 2 undesirable"),
        ("dpo", [], {}, "no preference pairs for DPO"),
        ("sft", kto_rows([False, False]), {}, "no passing samples to fine-tune on"),
        ("dpo", kto_rows([True, False]), {}, r"data.jsonl:1: missing field 'chosen'"),
        (
            "kto",
            [{"prompt": "p", "completion": "c", "label": "yes"}],
            {},
            r"data.jsonl:1: field 'label' must be bool",
        ),
    ],
)
def test_bad_data_gives_one_line_errors(tmp_path, tiny_model_dir, method, rows, overrides, message):
    write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(PlumError, match=message) as info:
        train(
            tiny_config(tiny_model_dir, method=method, **overrides),
            tmp_path / "data.jsonl",
            tmp_path / "out",
        )
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_a_max_length_that_leaves_no_signal_is_a_one_line_error(tmp_path, tiny_model_dir, prefs_dir):
    # The prompts (79 tokens) give way to 4 of 8 tokens, where every chosen and rejected still agree.
    with pytest.raises(PlumError, match=r"dpo.jsonl: nothing to learn: 14 of 14 DPO pairs carry no signal "
                                        r"within max_length=8 tokens") as info:  # fmt: skip
        train(
            tiny_config(tiny_model_dir, method="dpo", max_length=8),
            prefs_dir / "dpo.jsonl",
            tmp_path / "out",
        )
    assert "\n" not in str(info.value)


def test_missing_model_is_a_one_line_error(tmp_path, prefs_dir):
    with pytest.raises(PlumError, match="no-such-model: no such model folder") as info:
        train(tiny_config(tmp_path / "no-such-model"), prefs_dir / "kto.jsonl", tmp_path / "out")
    assert "\n" not in str(info.value)
    with pytest.raises(PlumError, match="not a model folder"):
        train(tiny_config(tmp_path), prefs_dir / "kto.jsonl", tmp_path / "out")


def test_unavailable_reporter_is_a_one_line_error(tmp_path, tiny_model_dir, prefs_dir):
    import importlib.util

    if importlib.util.find_spec("wandb"):
        pytest.skip("wandb is installed here")
    with pytest.raises(PlumError, match="report_to=wandb needs the 'wandb' package"):
        train(
            tiny_config(tiny_model_dir, report_to=["wandb"]),
            prefs_dir / "kto.jsonl",
            tmp_path / "out",
        )


@pytest.mark.parametrize(
    ("installed", "message"),
    [(False, r"needs the liger-kernel package \(pip install 'plum-train\[liger\]'\)"), (True, "needs a CUDA GPU")],
)
def test_liger_kernel_without_its_package_or_a_gpu_is_a_one_line_error(
    tmp_path, tiny_model_dir, prefs_dir, monkeypatch, installed, message
):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: (object() if installed else None) if name == "liger_kernel" else find_spec(name, *a),
    )  # fmt: skip
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(PlumError, match=message):
        train(tiny_config(tiny_model_dir, liger_kernel=True), prefs_dir / "kto.jsonl", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize("method", ["kto", "dpo", "sft"])
def test_liger_kernel_reaches_the_trl_config(tmp_path, tiny_model_dir, method):
    from plum_train.training import _trl_args

    assert _trl_args(tiny_config(tiny_model_dir, method=method, liger_kernel=True), {}, tmp_path).use_liger_kernel
    assert not _trl_args(tiny_config(tiny_model_dir, method=method), {}, tmp_path).use_liger_kernel


def test_cli_train_and_its_errors(tmp_path, tiny_model_dir, prefs_dir, capsys):
    argv = [
        "train",
        "--data",
        str(prefs_dir / "dpo.jsonl"),
        "--out",
        str(tmp_path / "out"),
        "--method",
        "dpo",
    ]
    tiny = [
        "--max-steps",
        "1",
        "--warmup-steps",
        "0",
        "--max-length",
        "128",
        "--per-device-train-batch-size",
        "2",
        "--no-gradient-checkpointing",
    ]
    # One step under warmup has learning rate 0: a loud error, not a silently untrained export.
    zero_lr = [*argv[:3], "--out", str(tmp_path / "zero"), *argv[5:], *tiny[:2]]
    assert main([*zero_lr, "--model", str(tiny_model_dir)]) == 2
    assert "training had no learning signal" in capsys.readouterr().err
    assert main([*argv, *tiny, "--model", str(tiny_model_dir)]) == 0
    assert f"trained model: {tmp_path / 'out' / 'model'}" in capsys.readouterr().out
    # click rejects an unknown method (usage error, exit 2) before anything runs
    assert main([*argv, "--model", str(tiny_model_dir), "--method", "ppo"]) == 2
    assert "Invalid value for '--method': 'ppo' is not one of 'kto', 'dpo', 'sft'" in capsys.readouterr().err
    assert main([*argv, *tiny, "--lora-r", "0", "--model", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "plum-train: error: command line: lora_r must be >= 1, got 0"


@pytest.mark.parametrize("lora", [True, False])
def test_training_with_a_zero_learning_rate_fails_loudly(tmp_path, tiny_model_dir, prefs_dir, lora):
    config = tiny_config(tiny_model_dir, method="dpo", lora=lora, learning_rate=0.0,
                         gradient_checkpointing=False)  # fmt: skip
    with pytest.raises(PlumError, match=r"no step of this run applied a nonzero learning rate .*steps 1-2") as info:
        train(config, prefs_dir / "dpo.jsonl", tmp_path / "train")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "train" / "model").exists()  # nothing exported as if it had learned


class ZeroLearningRate:
    """A callback that sets the learning rate of the steps still to run to zero, after the
    trainer restored the optimizer and scheduler from the checkpoint it resumes."""

    def __getattr__(self, event: str) -> Any:
        return lambda *args, **kwargs: None

    def on_train_begin(self, args: Any, state: Any, control: Any, optimizer: Any = None,
                       lr_scheduler: Any = None, **kwargs: Any) -> None:  # fmt: skip
        lr_scheduler.base_lrs = [0.0 for _ in lr_scheduler.base_lrs]
        lr_scheduler._last_lr = [0.0 for _ in lr_scheduler.base_lrs]  # what the trainer logs
        for group in optimizer.param_groups:
            group["lr"] = 0.0


def test_a_resumed_run_that_trains_nothing_fails_loudly(tmp_path, tiny_model_dir, prefs_dir, monkeypatch):
    """The steps before the crash moved the weights; the resumed step applies none of its gradient
    (Adam's restored momentum still moves them). Only this run's steps count."""
    from plum_train import training

    out = tmp_path / "train"
    config = tiny_config(tiny_model_dir, max_steps=3, gradient_checkpointing=False)
    train(config, prefs_dir / "kto.jsonl", out)
    shutil.rmtree(out / "model")
    shutil.rmtree(out / "checkpoints" / "checkpoint-3")
    original = training._build_trainer

    def without_learning(*args: Any, **kwargs: Any) -> Any:
        trainer = original(*args, **kwargs)
        trainer.add_callback(ZeroLearningRate())
        return trainer

    monkeypatch.setattr(training, "_build_trainer", without_learning)
    with pytest.raises(PlumError, match=r"training had no learning signal: .*\(steps 3-3, largest learning rate 0 "):
        train(config, prefs_dir / "kto.jsonl", out)
    assert not (out / "model").exists()


def spy_trainers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The trainers ``train`` builds, kept for inspection."""
    from plum_train import training

    built: list[Any] = []
    original = training._build_trainer

    def spy(*args: Any, **kwargs: Any) -> Any:
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(training, "_build_trainer", spy)
    return built


def test_precomputed_reference_log_probs_reach_trl(tmp_path, tiny_model_dir, prefs_dir, monkeypatch):
    built = spy_trainers(monkeypatch)
    config = tiny_config(tiny_model_dir, method="dpo", lora=False, precompute_ref_log_probs=True, max_steps=1)
    train(config, prefs_dir / "dpo.jsonl", tmp_path / "train")
    (trainer,) = built
    assert trainer.args.precompute_ref_log_probs is True
    # computed once, before training, as columns of the training set
    assert {"ref_chosen_logps", "ref_rejected_logps"} <= set(trainer.train_dataset.column_names)


# --- learning signal after truncation -------------------------------------------------------------


@pytest.mark.parametrize(("method", "data"), [("dpo", "dpo.jsonl"), ("kto", "kto.jsonl"), ("sft", "kto.jsonl")])
def test_long_prompts_are_cut_so_the_completions_keep_their_signal(
    tmp_path, tiny_model_dir, prefs_dir, monkeypatch, method, data
):
    """At max_length=96 TRL's own cut (the end of prompt + completion) leaves every fixture row
    without the tokens where passing and failing samples differ; plum cuts the prompts' start."""
    from trl import DPOTrainer, KTOTrainer, SFTTrainer

    from plum_train import training
    from plum_train.output import LibraryOutput
    from plum_train.truncation import count_signal

    config = tiny_config(tiny_model_dir, method=method, max_length=96)
    rows = training._read_rows(str(prefs_dir / data), config)
    args = training._trl_args(config, training._kto_loss_weights(config, str(prefs_dir / data)), tmp_path)
    tokenizer = training.load_tokenizer(config.model)
    trl_alone = {"dpo": DPOTrainer, "kto": KTOTrainer, "sft": SFTTrainer}[method](
        model=config.model, args=args, train_dataset=training._to_dataset(rows), processing_class=tokenizer
    )
    plum = training._build_trainer(config, args, training._to_dataset(rows), tokenizer, LibraryOutput(tmp_path / "log"))
    assert plum.signal.rows == len(rows) and plum.signal.without == 0, plum.signal
    if method == "sft":  # no pairs to compare: the completion tokens trained on, 17 of 29-30 per row with TRL alone
        trained = [sum(label != -100 for label in row["labels"]) for row in plum.train_dataset]
        assert min(trained) >= 29 > 17 == max(sum(label != -100 for label in row["labels"]) for row in trl_alone.train_dataset)
    else:
        cut = count_signal(trl_alone.train_dataset, method, 96)
        assert cut.without == cut.rows == len(rows), cut
    if method == "dpo":  # the prompt gave way; every chosen and rejected fits whole
        for row in plum.train_dataset:
            assert len(row["prompt_ids"]) + max(len(row["chosen_ids"]), len(row["rejected_ids"])) <= 96


def late_difference_rows(method: str, n: int) -> list[dict[str, Any]]:
    """Long completions that differ only in their last line, far beyond a short max_length."""
    body = "def f(a, b):\n" + "    a = a + b\n" * 12
    rows = []
    for i in range(n):
        good, bad = body + f"    return a  # {i}\n", body + f"    return b  # {i}\n"
        if method == "dpo":
            rows.append({"prompt": f"Write f{i}.", "chosen": good, "rejected": bad})
        else:
            rows += [{"prompt": f"Write f{i}.", "completion": good, "label": True},
                     {"prompt": f"Write f{i}.", "completion": bad, "label": False}]  # fmt: skip
    return rows


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_data_without_signal_after_truncation_is_an_error_before_training(tmp_path, tiny_model_dir, method):
    write_jsonl(tmp_path / "data.jsonl", late_difference_rows(method, 3))
    config = tiny_config(tiny_model_dir, method=method, max_length=32, lora=False, gradient_checkpointing=False)
    what = "chosen and rejected the same tokens" if method == "dpo" else "the same tokens as a row of the other label"
    with pytest.raises(PlumError, match=rf"data.jsonl: nothing to learn: (3 of 3 DPO pairs|6 of 6 KTO rows) carry no "
                                        rf"signal within max_length=32 tokens \(\d+ with {what}\); raise --max-length"):  # fmt: skip
        train(config, tmp_path / "data.jsonl", tmp_path / "train")
    assert not list((tmp_path / "train").glob("checkpoints/checkpoint-*"))  # refused before the first step


def test_pairs_without_signal_are_counted_in_a_warning(tmp_path, tiny_model_dir, capsys):
    rows = late_difference_rows("dpo", 3) + [
        {"prompt": "Write g.", "chosen": "def g():\n    return 1\n", "rejected": "def g():\n    return 2\n"}
    ]
    write_jsonl(tmp_path / "data.jsonl", rows)
    config = tiny_config(tiny_model_dir, method="dpo", max_length=32, max_steps=1)
    train(config, tmp_path / "data.jsonl", tmp_path / "train")
    warnings = [line for line in capsys.readouterr().err.splitlines() if "carry no signal" in line]
    assert warnings == [
        "plum train: warning: 3 of 4 DPO pairs carry no signal within max_length=32 tokens (3 with chosen "
        "and rejected the same tokens); they add nothing (raise --max-length to keep them)"
    ]


def test_kto_trainer_receives_the_weights_prefs_computed(tmp_path, tiny_model_dir, prefs_dir, monkeypatch):
    """Not only the saved record: the KTOTrainer built for the run holds the weights of stats.json."""
    built = spy_trainers(monkeypatch)
    train(tiny_config(tiny_model_dir, max_steps=1), prefs_dir / "kto.jsonl", tmp_path / "train")
    expected = json.loads((prefs_dir / "stats.json").read_text())["kto_weights"]
    (trainer,) = built
    assert expected != {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    assert (trainer.desirable_weight, trainer.undesirable_weight) == (
        expected["desirable_weight"],
        expected["undesirable_weight"],
    )


# A toy preference set: for each prompt, one good completion and one bad one.
TOY = [
    (f"Write f{i}.", f"def f{i}():\n    return {i}\n", f"def f{i}():\n    return None  # {i}\n")
    for i in range(6)
]


def toy_rows(method: str, conversational: bool) -> list[dict[str, Any]]:
    """TOY in TRL's standard (strings) or conversational (messages) format."""

    def fmt(role: str, text: str) -> Any:
        return [{"role": role, "content": text}] if conversational else text

    if method == "dpo":
        return [{"prompt": fmt("user", p), "chosen": fmt("assistant", good), "rejected": fmt("assistant", bad)}
                for p, good, bad in TOY]  # fmt: skip
    return [{"prompt": fmt("user", p), "completion": fmt("assistant", c), "label": label}
            for p, good, bad in TOY for c, label in ((good, True), (bad, False))]  # fmt: skip


def completion_log_prob(model: Any, prompt_ids: list[int], ids: list[int]) -> float:
    """Sum of the log-probabilities of ``ids`` after ``prompt_ids`` (the completion's tokens)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].float()
    log_probs = torch.log_softmax(logits, dim=-1)
    targets = torch.tensor(ids[1:])
    per_token = log_probs[torch.arange(len(targets)), targets]
    return float(per_token[len(prompt_ids) - 1 :].sum())


def token_ids(tokenizer: Any, prompt: str, completion: str, conversational: bool) -> tuple[list[int], list[int]]:
    """Prompt and prompt + completion as the model sees them (the chat template, as TRL renders it)."""
    if not conversational:
        return (tokenizer(prompt, add_special_tokens=False)["input_ids"],
                tokenizer(prompt + completion, add_special_tokens=False)["input_ids"])  # fmt: skip
    user = [{"role": "user", "content": prompt}]
    prompt_ids = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=True, return_dict=True)
    ids = tokenizer.apply_chat_template(
        [*user, {"role": "assistant", "content": completion}], tokenize=True, return_dict=True
    )
    return prompt_ids["input_ids"], ids["input_ids"]


def margin(model_dir: Path, conversational: bool = False) -> float:
    """Mean log-probability of the good completions minus that of the bad ones."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def log_prob(prompt: str, completion: str) -> float:
        return completion_log_prob(model, *token_ids(tokenizer, prompt, completion, conversational))

    return sum(log_prob(p, good) - log_prob(p, bad) for p, good, bad in TOY) / len(TOY)


@pytest.mark.slow
@pytest.mark.parametrize(("lora", "conversational"), [(False, False), (True, True)],
                         ids=["full-standard", "lora-conversational"])  # fmt: skip
@pytest.mark.parametrize("method", ["kto", "dpo"])
def test_training_moves_the_policy_toward_the_preferred_completions(
    tmp_path, tiny_model_dir, method, lora, conversational
):
    """Direction, not motion: after a few steps the good completions gained on the bad ones by
    more than a nat, far above what floating-point differences between processors could do."""
    data = tmp_path / "data" / f"{method}.jsonl"
    data.parent.mkdir()
    write_jsonl(data, toy_rows(method, conversational))
    config = tiny_config(
        tiny_model_dir, method=method, lora=lora, gradient_checkpointing=False, max_steps=6,
        per_device_train_batch_size=4, learning_rate=1e-2 if lora else 1e-3,
    )  # fmt: skip
    before = margin(tiny_model_dir, conversational)
    after = margin(train(config, data, tmp_path / "train"), conversational)
    assert after > before + 1.0, (before, after)


# --- what users see -------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_terminal_shows_plums_lines_and_the_libraries_go_to_the_log(tmp_path, tiny_model_dir, prefs_dir):
    """A real ``plum-train train`` process: deprecation and pin_memory warnings, bars and TRL's
    KTO weight warning land in OUT/train.log; the terminal gets plum's lines, its weight warning once."""
    import subprocess
    import sys

    out = tmp_path / "train"
    command = [
        sys.executable, "-m", "plum_train", "train", "--model", str(tiny_model_dir), "--out", str(out),
        "--data", str(prefs_dir / "kto.jsonl"), "--max-steps", "2", "--per-device-train-batch-size", "2",
        "--gradient-accumulation-steps", "1", "--max-length", "128", "--warmup-steps", "0",
        "--learning-rate", "1e-2", "--undesirable-weight", "0.05",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    terminal = done.stdout.splitlines() + done.stderr.splitlines()
    assert all(line.startswith(("plum train: ", "trained model: ")) for line in terminal), terminal
    weights = [line for line in terminal if "KTO weights" in line]
    assert len(weights) == 1 and "use --undesirable-weight 0.469 to 0.625" in weights[0], weights
    assert any(line.startswith("plum train: step 2/2, loss ") for line in terminal), terminal
    log = (out / "train.log").read_text(encoding="utf-8")
    assert "don't seem to be in an ideal range" in log  # TRL's own warning, kept for the record
    assert all(line in log for line in terminal if line.startswith("plum train: "))

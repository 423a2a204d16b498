"""plum train's loss options (plum_train.losses): each reaches TRL's trainer and changes the loss.

The first logged loss is computed before any update, when the policy equals its reference: DPO's
sigmoid loss is then exactly log 2 and KTO's 0.5 per row (weighted), so an added NLL term shows
as the random tiny model's NLL per token (about ln 600 = 6.4), far above any rounding."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from plum_exec.jsonl import write_jsonl
from plum_train import training
from plum_train.training import TrainConfig, train

# Short rows that no max_length cuts: each prompt has a passing and a failing completion.
TOY = [
    (f"Write f{i}.", f"def f{i}():\n    return {i}\n", f"def f{i}():\n    return None  # {i}\n")
    for i in range(4)
]
TINY = dict(max_steps=1, per_device_train_batch_size=4, gradient_accumulation_steps=1, max_length=128,
            learning_rate=1e-3, warmup_steps=0, save_steps=1, lora=False, gradient_checkpointing=False)  # fmt: skip


def toy_data(folder: Path, method: str) -> Path:
    if method == "kto":
        rows = [{"prompt": p, "completion": c, "label": label} for p, good, bad in TOY for c, label in ((good, True), (bad, False))]
    else:
        rows = [{"prompt": p, "chosen": good, "rejected": bad} for p, good, bad in TOY]
    path = folder / f"{method}.jsonl"
    write_jsonl(path, rows)
    return path


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The trainers ``train`` builds, kept for inspection."""
    trainers: list[Any] = []
    original = training._build_trainer

    def spy(*args: Any, **kwargs: Any) -> Any:
        trainers.append(original(*args, **kwargs))
        return trainers[-1]

    monkeypatch.setattr(training, "_build_trainer", spy)
    return trainers


def first_loss(tmp_path: Path, model: Path, name: str, method: str, **options: Any) -> float:
    config = TrainConfig(model=str(model), method=method, **TINY, **options)
    train(config, toy_data(tmp_path, method), tmp_path / name)
    history = json.loads((tmp_path / name / "log_history.json").read_text())
    return next(record["loss"] for record in history if "loss" in record)


def test_dpo_rpo_alpha_adds_trls_sft_loss(tmp_path, tiny_model_dir, built) -> None:
    plain = first_loss(tmp_path, tiny_model_dir, "dpo", "dpo")
    rpo = first_loss(tmp_path, tiny_model_dir, "rpo", "dpo", rpo_alpha=0.5)
    assert (built[0].loss_types, built[0].loss_weights) == (["sigmoid"], [1.0])
    assert (built[1].loss_types, built[1].loss_weights) == (["sigmoid", "sft"], [1.0, 0.5])
    assert plain == pytest.approx(math.log(2), abs=1e-3)
    assert rpo - plain > 2.0  # half the NLL of a random model's tokens


def test_dpo_loss_types_and_weights_reach_trl(tmp_path, tiny_model_dir, built) -> None:
    """The ablation of RPO: the DPO term weighted 0 leaves only the NLL of the chosen completions."""
    nll_only = first_loss(tmp_path, tiny_model_dir, "nll", "dpo", loss_type=["sigmoid"], loss_weights=[0.0], rpo_alpha=1.0)
    ipo = first_loss(tmp_path, tiny_model_dir, "ipo", "dpo", loss_type=["ipo"])
    assert (built[0].loss_types, built[0].loss_weights) == (["sigmoid", "sft"], [0.0, 1.0])
    assert built[1].loss_types == ["ipo"]
    assert nll_only > 4.0  # the NLL alone, no log 2
    # IPO at the reference: (0 - 1 / (2 beta))^2 = 25 with beta 0.1
    assert ipo == pytest.approx(25.0, rel=1e-3)


def test_kto_rpo_alpha_adds_the_nll_of_desirable_completions(tmp_path, tiny_model_dir, built) -> None:
    from plum_train.losses import KTOWithNLLTrainer

    plain = first_loss(tmp_path, tiny_model_dir, "kto", "kto", desirable_weight=1.0, undesirable_weight=1.0)
    nll = first_loss(tmp_path, tiny_model_dir, "kto_nll", "kto", desirable_weight=1.0, undesirable_weight=1.0, rpo_alpha=1.0)
    assert not isinstance(built[0], KTOWithNLLTrainer)
    assert isinstance(built[1], KTOWithNLLTrainer) and built[1].rpo_alpha == 1.0
    assert plain == pytest.approx(0.5, abs=1e-3)  # 1 - sigmoid(0) for every row
    assert nll - plain > 4.0
    logged = (tmp_path / "kto_nll" / "log_history.json").read_text()
    assert '"nll/desirable"' in logged


def test_kto_loss_type_reaches_trl(tmp_path, tiny_model_dir, built) -> None:
    apo = first_loss(tmp_path, tiny_model_dir, "apo", "kto", desirable_weight=1.0, undesirable_weight=1.0,
                     loss_type=["apo_zero_unpaired"])  # fmt: skip
    assert built[0].loss_type == "apo_zero_unpaired"
    assert apo == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "sft", "rpo_alpha": 1.0}, "apply to kto and dpo, not sft"),
        ({"method": "dpo", "loss_type": ["sigmod"]}, "loss_type 'sigmod' is not a TRL dpo loss"),
        ({"method": "kto", "loss_type": ["sigmoid"]}, "loss_type 'sigmoid' is not a TRL kto loss"),
        ({"method": "kto", "loss_type": ["kto", "apo_zero_unpaired"]}, "kto takes one loss_type"),
        ({"method": "dpo", "loss_type": ["sigmoid", "sft"], "loss_weights": [1.0]}, "1 weights for 2 loss types"),
        ({"method": "dpo", "rpo_alpha": -1.0}, "rpo_alpha must be >= 0"),
    ],
)
def test_loss_options_that_do_not_fit_the_method_are_refused(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(model="m", **options)

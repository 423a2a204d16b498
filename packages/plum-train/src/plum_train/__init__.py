"""plum-train: KTO, DPO and SFT with TRL on preference datasets (LoRA or full fine-tuning).

Reads TRL-format data (``prompt``/``completion``/``label`` or ``prompt``/``chosen``/``rejected``)
and nothing else of plumcode's; torch loads only when training starts::

    from plum_train import TrainConfig, train

    model_dir = train(TrainConfig(model="Qwen/Qwen2.5-Coder-1.5B-Instruct", method="kto"),
                      "prefs/kto.jsonl", "train/")
"""

from __future__ import annotations

from plum_exec.lazy import lazy_exports

__version__ = "0.1.0"

EXPORTS = {
    "TrainConfig": "plum_train.training",
    "train": "plum_train.training",
}

__all__ = ["__version__", *EXPORTS]

__getattr__, __dir__ = lazy_exports("plum_train", EXPORTS, globals())

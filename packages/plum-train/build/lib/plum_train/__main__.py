"""``python -m plum_train`` (what ``accelerate launch -m plum_train train ...`` runs)."""

from plum_train.cli import cli

cli(prog_name="plum-train")

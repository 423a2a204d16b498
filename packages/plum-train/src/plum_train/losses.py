"""Preference losses for failures that differ from passes in a token or two (docs/training.md).

A failing program usually shares all but a few tokens with a passing one. Pushing the failing
sequence down drags the shared tokens down with it, and DPO's margin can grow while the passing
program's own probability falls (Pal et al. 2024, "Smaug"). An NLL term on the passing
completions keeps them up (Pang et al. 2024, iterative RPO: DPO + NLL on the chosen answer).

TRL 1.16 has that term for DPO (its ``sft`` loss type, combined with ``sigmoid`` through
``loss_type`` / ``loss_weights``), so plum only maps ``rpo_alpha`` onto it. KTO has no such
term in TRL; ``KTOWithNLLTrainer`` adds it in a few lines around TRL's own loss.
"""

from __future__ import annotations

from typing import Any

from trl import KTOTrainer


def dpo_losses(loss_type: list[str], loss_weights: list[float], rpo_alpha: float | None) -> dict[str, Any]:
    """DPOConfig's ``loss_type`` and ``loss_weights``: the given ones (TRL's sigmoid by default),
    plus TRL's ``sft`` loss (NLL on the chosen completions) weighted ``rpo_alpha``."""
    types = list(loss_type) or ["sigmoid"]
    weights = list(loss_weights) or [1.0] * len(types)
    if rpo_alpha:
        types, weights = [*types, "sft"], [*weights, rpo_alpha]
    return {"loss_type": types, "loss_weights": weights}


class KTOWithNLLTrainer(KTOTrainer):
    """TRL's KTOTrainer plus ``rpo_alpha`` x the mean token NLL of the batch's desirable completions.

    TRL computes the policy's per-token log-probabilities inside ``_compute_loss`` and does not
    return them; a forward hook picks them up from the one forward pass that builds a graph (the
    KL and reference passes run under ``no_grad``), so the NLL costs no extra forward pass."""

    def __init__(self, *args: Any, rpo_alpha: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.rpo_alpha = rpo_alpha

    def _compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool) -> Any:
        import torch

        policy_outputs: list[Any] = []

        def keep_policy_pass(module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
            if torch.is_grad_enabled() and kwargs.get("fused_lm_head"):
                policy_outputs.append(output)

        handle = model.register_forward_hook(keep_policy_pass, with_kwargs=True)
        try:
            result = super()._compute_loss(model, inputs, return_outputs)
        finally:
            handle.remove()
        if not policy_outputs:  # evaluation under no_grad: KTO's loss alone
            return result
        nll = desirable_nll(policy_outputs[-1], inputs["label"])
        self._metrics["train"]["nll/desirable"].append(nll.item())
        if return_outputs:
            loss, outputs = result
            return loss + self.rpo_alpha * nll, outputs
        return result + self.rpo_alpha * nll


def desirable_nll(outputs: Any, labels: Any) -> Any:
    """Mean negative log-likelihood per completion token of the rows labelled desirable (0 when
    the batch has none: the term then adds no gradient)."""
    import torch

    desirable = torch.as_tensor(labels, dtype=torch.bool, device=outputs.log_probs.device)
    mask = outputs.label_mask[desirable]
    return -(outputs.log_probs[desirable] * mask).sum() / mask.sum().clamp(min=1)

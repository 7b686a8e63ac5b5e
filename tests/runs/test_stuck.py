"""The studio's live *stuck* rule is the chance warning's rule, each epoch (issue 27)."""

from __future__ import annotations

import torch

from mnist_sgd.runs.curves import at_chance, chance_warning, stuck_reason

LABELS = torch.tensor([0] * 504 + [1] * 496)  # the commonest class: 50.4%


def epoch(accuracy: float, valid_loss: float) -> dict[str, float]:
    return {"train_loss": valid_loss, "valid_loss": valid_loss, "batch_accuracy": accuracy}


def test_one_rule_for_the_warning_and_the_live_mark() -> None:
    chance = [epoch(0.496, 0.5044)]
    assert at_chance(chance[-1], LABELS) == (0.496, 0.504)
    assert chance_warning(chance, LABELS, 1000) is not None
    reason = stuck_reason(chance, LABELS, 1000, sigmoid=True)
    assert reason == (
        "accuracy at chance for an epoch (49.6%, no better than always answering the "
        "commonest class, 50.4%): the sigmoid saturates at this lr; try a smaller lr"
    )
    assert "lr 1000 is probably too high" in str(stuck_reason(chance, LABELS, 1000, sigmoid=False))
    learning = [epoch(0.88, 0.125), epoch(0.93, 0.074)]
    assert at_chance(learning[-1], LABELS) is None
    assert chance_warning(learning, LABELS, 1) is None
    assert stuck_reason(learning, LABELS, 1, sigmoid=True) is None
    assert stuck_reason([], LABELS, 1, sigmoid=True) is None


def test_a_loss_that_stops_moving_is_stuck_a_slow_one_is_not() -> None:
    still = [epoch(0.90, 0.2), epoch(0.90, 0.2)]
    assert "the loss has stopped moving (0.2000 for two epochs)" in str(
        stuck_reason(still, LABELS, 5, sigmoid=True)
    )
    slow = [epoch(0.546, 0.455877), epoch(0.546, 0.455843)]  # lr 1e-4: slow, still moving
    assert stuck_reason(slow, LABELS, 1e-4, sigmoid=True) is None

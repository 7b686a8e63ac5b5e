"""Metrics for people (book: "Putting it all together"), each against a hand count."""

from __future__ import annotations

import pytest
import torch

from mnist_sgd import accuracy, batch_accuracy, confusion_matrix, per_class_accuracy
from mnist_sgd.core.metrics import predicted_labels, probabilities


def test_batch_accuracy_is_the_share_of_sigmoid_above_half_matching() -> None:
    xb = torch.tensor([[2.0], [-1.0], [0.1], [-0.1], [0.0]])
    yb = torch.tensor([[1], [0], [0], [0], [1]])
    # right: 2.0->1, -1.0->0, -0.1->0; wrong: 0.1->1 (target 0), 0.0->sigmoid 0.5 is not > 0.5
    assert batch_accuracy(xb, yb).item() == pytest.approx(3 / 5)
    assert batch_accuracy(xb, yb).dtype == torch.float32


def test_batch_accuracy_has_no_gradient() -> None:
    xb = torch.tensor([[2.0], [-1.0]], requires_grad=True)
    assert not batch_accuracy(xb, torch.tensor([[1], [0]])).requires_grad


def test_batch_accuracy_refuses_shapes_that_would_broadcast() -> None:
    with pytest.raises(ValueError, match=r"batch_accuracy: .*\(4, 1\).*\(4,\).*broadcast"):
        batch_accuracy(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))


def test_accuracy_for_k_classes() -> None:
    xb = torch.tensor([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 2.0]])
    assert accuracy(xb, torch.tensor([1, 0, 1, 1])).item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"\(n, k\).*\(4, 3\) and \(4, 1\)"):
        accuracy(xb, torch.zeros(4, 1, dtype=torch.long))


def test_confusion_matrix_and_per_class_accuracy() -> None:
    targets = torch.tensor([0, 0, 1, 1, 1, 2])
    preds = torch.tensor([0, 1, 1, 1, 2, 2])
    matrix = confusion_matrix(preds, targets, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    torch.testing.assert_close(
        per_class_accuracy(matrix), torch.tensor([0.5, 2 / 3, 1.0], dtype=torch.float64)
    )
    assert torch.isnan(per_class_accuracy(confusion_matrix(preds, targets, 4))[3])


def test_predicted_labels_and_probabilities() -> None:
    binary = torch.tensor([[3.0], [-3.0], [0.0]])
    assert predicted_labels(binary).tolist() == [0, 1, 1]  # score > 0 means class 0, the "3"
    probs = probabilities(binary)
    assert probs.shape == (3, 2)
    torch.testing.assert_close(probs.sum(1), torch.ones(3))
    assert probs[0, 0] > 0.9
    scores = torch.tensor([[0.0, 2.0, 1.0]])
    assert predicted_labels(scores).tolist() == [1]
    torch.testing.assert_close(probabilities(scores), torch.softmax(scores, 1))

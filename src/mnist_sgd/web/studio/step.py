"""Step mode: the chapter's seven steps, made visible on one real mini-batch.

``StepCapture`` hooks the training ``Learner`` for exactly one batch: the
predictions of its forward pass (a forward hook), the gradient of each
parameter (tensor hooks, called by ``backward``), the weights before and
after ``opt.step()``, and the loss on the same batch after the step. Nothing
is computed twice except that last loss, so the step shown is the step taken.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mnist_sgd.core.data import binary_labels
from mnist_sgd.core.learner import Learner
from mnist_sgd.core.metrics import predicted_labels, probabilities
from mnist_sgd.web.shared.images import png_base64

SHOWN = 16
"""Images of the batch shown."""


def verdicts(
    classes: list[str], images: Tensor, labels: Tensor, guess: Tensor, probs: Tensor
) -> dict[str, Any]:
    """Each uint8 picture as a PNG, its true label, the model's guess and that one's probability."""
    return {
        "images": [png_base64(image) for image in images],
        "labels": [classes[int(i)] for i in labels],
        "predicted": [classes[int(i)] for i in guess],
        "probability": [round(float(probs[k, int(i)]), 4) for k, i in enumerate(guess)],
    }


class StepCapture:
    """Record one batch's seven steps; :meth:`finish` returns them as JSON-able facts."""

    def __init__(self, learn: Learner) -> None:
        self.learn = learn
        self.grads: dict[str, Tensor] = {}
        self.before = {k: v.detach().clone() for k, v in learn.model.named_parameters()}
        self.preds: Tensor | None = None
        self.handles = [learn.model.register_forward_hook(self._keep_preds)]
        for name, p in learn.model.named_parameters():
            self.handles.append(p.register_hook(self._keeper(name)))

    def _keep_preds(self, module: Any, inputs: Any, output: Tensor) -> None:
        self.preds = output.detach()

    def _keeper(self, name: str) -> Any:
        def keep(grad: Tensor) -> None:
            self.grads[name] = grad.detach().clone()

        return keep

    def finish(self, classes: list[str], binary: bool) -> dict[str, Any]:
        """Take the hooks off; the step's facts: images, predictions, loss, gradient, update."""
        for handle in self.handles:
            handle.remove()
        learn, preds = self.learn, self.preds
        assert preds is not None, "the batch's forward pass was not seen"
        after: dict[str, Tensor] = dict(learn.model.named_parameters())
        facts: dict[str, Any] = {
            "epoch": learn.epoch,
            "iter": learn.iter,
            "lr": float(learn.opt.lr) if learn.opt is not None else learn.lr,
            "loss": float(learn.loss),
            "loss_after": self._loss_after(),
            "batch": self._batch(preds, classes, binary),
            "params": [self._param(n, p) for n, p in after.items()],
        }
        pictures = self._pictures(after)
        if pictures is not None:
            facts["pictures"] = pictures
        return facts

    @torch.no_grad()
    def _loss_after(self) -> float:
        """The loss on the same batch with the updated weights (evaluation mode)."""
        model = self.learn.model
        model.eval()
        try:
            return float(self.learn.loss_func(model(self.learn.xb), self.learn.yb))
        finally:
            model.train()

    def _batch(self, preds: Tensor, classes: list[str], binary: bool) -> dict[str, Any]:
        """The first images of the batch: pictures, true labels, verdicts."""
        xb, yb = self.learn.xb[:SHOWN], self.learn.yb[:SHOWN]
        images = (xb.detach().float().reshape(-1, 28, 28).clamp(0, 1) * 255).round()
        scores = preds[:SHOWN].float().cpu()
        truth = (binary_labels(yb) if binary else yb.reshape(-1)).cpu()
        guess, probs = predicted_labels(scores), probabilities(scores)
        shown = verdicts(classes, images.to(torch.uint8).cpu(), truth, guess, probs)
        return {"size": len(self.learn.yb), **shown}

    def _param(self, name: str, p: Tensor) -> dict[str, Any]:
        """Sizes of one parameter's gradient and update (``p -= lr * grad`` for plain SGD)."""
        grad = self.grads.get(name)
        update = p.detach() - self.before[name]
        return {
            "name": name,
            "shape": list(p.shape),
            "grad_norm": None if grad is None else float(grad.norm()),
            "update_norm": float(update.norm()),
        }

    def _pictures(self, after: dict[str, Tensor]) -> dict[str, Any] | None:
        """A linear model's ``weights``: before, gradient, update, after, one 784 row per output."""
        if "weights" not in after or after["weights"].shape[0] != 28 * 28:
            return None
        grad = self.grads.get("weights", torch.zeros_like(after["weights"]))

        def rows(t: Tensor) -> list[list[float]]:
            return [[round(float(v), 5) for v in row] for row in t.detach().float().cpu().T]

        before = self.before["weights"]
        return {
            "before": rows(before),
            "grad": rows(grad),
            "update": rows(after["weights"] - before),
            "after": rows(after["weights"]),
        }

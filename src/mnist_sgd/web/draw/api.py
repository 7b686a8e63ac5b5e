"""What the draw page's API computes, free of HTTP: a prediction from bytes, the run's summary.

The page posts the canvas (or an uploaded file) as PNG/JPEG bytes; the server
runs the same preprocessing as ``mnist-sgd predict`` and answers with the
label, one probability per class and the ``(28, 28)`` image the model saw.
"""

from __future__ import annotations

from typing import Any

from mnist_sgd.runs import Run
from mnist_sgd.web.shared.images import (
    finite,
    linear_weights,
    prediction,
    read_image,
    seen_image,
)


def predict_bytes(run: Run, data: bytes, *, max_pixels: int) -> dict[str, Any]:
    """Predict the digit in image bytes (the answer of :func:`images.prediction`).

    Raises:
        ImageError: the bytes are not an image, are too large, or hold no digit.
    """
    seen = seen_image(read_image(data, max_pixels=max_pixels))
    return prediction(run.classes, run.predict_proba(seen.unsqueeze(0))[0], seen)


def run_summary(run: Run, plots: list[str]) -> dict[str, Any]:
    """The run's summary for the page: dataset, model, accuracy, per-epoch history."""
    info, final = run.info, run.info.get("final") or (run.history[-1] if run.history else {})
    metric = next(iter(info.get("metrics") or []), "accuracy")
    model = info["model"]
    return finite(
        {
            "dataset": info["dataset"],
            "classes": run.classes,
            "model": {key: model.get(key) for key in ("name", "n_out", "flat", "parameters")},
            "loss": info.get("loss"),
            "status": info.get("status"),
            "metric": metric,
            "accuracy": final.get(metric),
            "valid_loss": final.get("valid_loss"),
            "epochs": len(run.history),
            "sizes": info.get("sizes"),
            "train": info.get("train"),
            "history": run.history,
            "has_weights": linear_weights(run) is not None,
            "plots": plots,
        }
    )

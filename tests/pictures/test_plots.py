"""Plots: each function writes a valid, sensibly sized PNG, atomically, from a real short run."""

from __future__ import annotations

import gzip
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_sgd.pictures import plots

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DIGITS = [str(i) for i in range(10)]


def read_idx(name: str, offset: int) -> np.ndarray:
    """The bytes of a gzipped IDX file after its header (16 for images, 8 for labels)."""
    with gzip.open(MNIST_DIR / name) as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """2000 real MNIST test digits ``(2000, 28, 28) uint8`` and labels, or noise without a copy."""
    if (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        images = read_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:2000]
        labels = read_idx("t10k-labels-idx1-ubyte.gz", 8)[:2000].astype(np.int64)
        return torch.from_numpy(images.copy()), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2000, 28, 28), dtype=torch.uint8, generator=generator)
    return images, torch.randint(0, 10, (2000,), generator=generator)


@pytest.fixture(scope="module")
def run(digits: tuple[torch.Tensor, torch.Tensor]) -> dict[str, object]:
    """A real short run: a softmax-linear model, 5 epochs on 1500 digits, validated on 500."""
    images, labels = digits
    xs = images.view(-1, 784).float() / 255  # (2000, 784)
    torch.manual_seed(0)
    model = torch.nn.Linear(784, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    history = []
    for epoch in range(5):
        for batch in torch.randperm(1500).split(100):
            loss = torch.nn.functional.cross_entropy(model(xs[batch]), labels[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            out = model(xs[1500:])
        history.append(
            {
                "epoch": epoch,
                "train_loss": loss.item(),
                "valid_loss": float(torch.nn.functional.cross_entropy(out, labels[1500:])),
                "accuracy": float((out.argmax(dim=1) == labels[1500:]).float().mean()),
                "seconds": 0.01,
            }
        )
    probs = out.softmax(dim=1)
    return {"history": history, "weight": model.weight.detach(), "probs": probs}


def assert_png(path: Path, min_size: tuple[int, int] = (300, 200)) -> None:
    """``path`` is a complete PNG at least ``min_size`` pixels (width, height)."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.width >= min_size[0] and image.height >= min_size[1], image.size
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# --- each plot --------------------------------------------------------------------------


def test_plot_history(tmp_path: Path, run: dict) -> None:
    out = plots.plot_history(run["history"], tmp_path / "plots" / "history.png")
    assert out == tmp_path / "plots" / "history.png"
    assert_png(out, (800, 300))


def test_plot_history_without_metrics_and_with_one_epoch(tmp_path: Path) -> None:
    record = {"epoch": 0, "train_loss": 0.5, "valid_loss": 0.4, "seconds": 1.0, "lr": 0.1}
    assert_png(plots.plot_history([record], tmp_path / "one.png"))
    with pytest.raises(ValueError, match="empty"):
        plots.plot_history([], tmp_path / "none.png")


def test_plot_history_with_a_metric_from_the_second_epoch(tmp_path: Path) -> None:
    history = [
        {"epoch": 0, "train_loss": 0.5, "valid_loss": 0.4},
        {"epoch": 1, "train_loss": 0.3, "valid_loss": float("nan"), "accuracy": 0.9},
    ]
    assert_png(plots.plot_history(history, tmp_path / "h.png"), (800, 300))


def test_plot_weights_ten_classes(tmp_path: Path, run: dict) -> None:
    assert_png(plots.plot_weights(run["weight"], DIGITS, tmp_path / "w.png"), (800, 400))
    assert_png(plots.plot_weights(run["weight"].T, DIGITS, tmp_path / "wt.png"), (800, 400))


def test_plot_weights_of_the_seed_model_is_one_centred_map(tmp_path: Path) -> None:
    weight = torch.zeros(784, 1)  # the book's (784, 1): top half "3", bottom half "7"
    weight[: 14 * 28] = 2.0
    weight[14 * 28 :] = -2.0
    path = plots.plot_weights(weight, ["3", "7"], tmp_path / "w.png")
    assert_png(path)
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    blue = (rgb[..., 2] > 200) & (rgb[..., 0] < 60) & (rgb[..., 1] < 60)
    assert red.sum() > 1000 and blue.sum() > 1000
    assert abs(int(red.sum()) - int(blue.sum())) < 0.2 * red.sum()  # same strength, same colour


@pytest.mark.parametrize(
    ("shape", "classes", "message"),
    [((784, 2), DIGITS, "2 maps but 10 classes"), ((10, 100), DIGITS, "784")],
)
def test_plot_weights_refuses_mismatches(
    tmp_path: Path, shape: tuple[int, int], classes: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plots.plot_weights(torch.zeros(shape), classes, tmp_path / "w.png")


def test_plot_confusion(tmp_path: Path, run: dict, digits: tuple) -> None:
    _, labels = digits
    preds = run["probs"].argmax(dim=1)
    matrix = torch.bincount(labels[1500:] * 10 + preds, minlength=100).view(10, 10)
    assert_png(plots.plot_confusion(matrix, DIGITS, tmp_path / "c.png"), (500, 500))
    with pytest.raises(ValueError, match=r"\(10, 10\)"):
        plots.plot_confusion(matrix[:3, :3], DIGITS, tmp_path / "bad.png")


def test_plot_mistakes(tmp_path: Path, run: dict, digits: tuple) -> None:
    images, labels = digits
    probs, targets = run["probs"], labels[1500:]
    preds = probs.argmax(dim=1)
    wrong = (preds != targets).nonzero().squeeze(1)
    worst = wrong[(-probs[wrong, targets[wrong]].log()).argsort(descending=True)][:12]
    path = plots.plot_mistakes(
        images[1500:][worst], targets[worst], preds[worst], probs[worst, preds[worst]], DIGITS,
        tmp_path / "m.png",
    )  # fmt: skip
    assert_png(path, (500, 300))
    assert_png(plots.plot_mistakes(images[:0], [], [], [], DIGITS, tmp_path / "none.png"))
    with pytest.raises(ValueError, match="as many"):
        plots.plot_mistakes(images[:2], [1], [2, 3], [0.5, 0.5], DIGITS, tmp_path / "bad.png")


def test_plot_samples(tmp_path: Path, digits: tuple) -> None:
    images, labels = digits
    assert_png(plots.plot_samples(images, labels, DIGITS, tmp_path / "s.png"), (800, 800))
    assert_png(plots.plot_samples(images, labels, DIGITS, tmp_path / "s3.png", n=3))
    with pytest.raises(ValueError, match="n must be"):
        plots.plot_samples(images, labels, DIGITS, tmp_path / "bad.png", n=0)


def test_plot_lr_find(tmp_path: Path) -> None:
    lrs = [1e-6 * 10 ** (k / 10) for k in range(70)]
    losses = [
        2.3 - 0.3 * math.tanh(k / 10 - 5) + (0.0 if k < 60 else (k - 60) ** 2) for k in range(70)
    ]
    losses[-1] = math.inf  # the finder stops on a diverged loss
    assert_png(plots.plot_lr_find(lrs, losses, tmp_path / "lr.png", 3e-2), (600, 400))
    assert_png(plots.plot_lr_find(lrs, losses, tmp_path / "lr2.png", None))
    with pytest.raises(ValueError, match="as many"):
        plots.plot_lr_find(lrs, losses[:3], tmp_path / "bad.png", None)
    with pytest.raises(ValueError, match="suggestion"):
        plots.plot_lr_find(lrs, losses, tmp_path / "bad.png", 0.0)


# --- atomic writes, lazy matplotlib ----------------------------------------------------------


def broken_savefig(self: object, handle: object, **kwargs: object) -> None:
    """Write half a PNG, then fail like a full disk."""
    handle.write(PNG_SIGNATURE + b"half a picture")  # type: ignore[attr-defined]
    raise OSError("No space left on device")


@pytest.mark.parametrize(
    "draw",
    [
        lambda path: plots.plot_history([{"epoch": 0, "train_loss": 1.0}], path),
        lambda path: plots.plot_weights(torch.ones(784, 1), ["3", "7"], path),
        lambda path: plots.plot_lr_find([0.1, 1.0], [2.0, 1.0], path, 0.1),
    ],
)
def test_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, draw: Callable[[Path], Path]
) -> None:
    from matplotlib.figure import Figure

    path = tmp_path / "plot.png"
    draw(path)
    before = path.read_bytes()
    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="No space"):
        draw(path)
    assert path.read_bytes() == before
    with pytest.raises(OSError, match="No space"):
        draw(tmp_path / "new.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_matplotlib_is_imported_lazily_and_pyplot_never(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import mnist_sgd.pictures.plots as plots\n"
        "assert 'matplotlib' not in sys.modules, 'imported at module load'\n"
        "plots.plot_lr_find([0.1, 1.0], [2.0, 1.0], sys.argv[1], None)\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(plots.__file__).parents[2])}
    target = tmp_path / "lazy.png"
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert_png(target, (100, 100))

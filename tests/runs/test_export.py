"""``learn.export``: a notebook's model as a run folder that the CLI reads, and ``load_learner``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from mnist_sgd import DataLoader, DataLoaders, Learner, batch_accuracy, mnist_loss, seed_tensors
from mnist_sgd.core.optim import SGD
from mnist_sgd.datasets import DataOptions, load_dataset
from mnist_sgd.errors import ModelFileError
from mnist_sgd.runs import load_learner, load_run, read_run_info
from mnist_sgd.runs.layers import build_layers, describe_layers


@pytest.fixture(scope="module")
def book_dls(shared_data: Path, sample_cache: Path) -> DataLoaders:
    """The chapter's ``dls``: the seed's ``(x, y)`` pairs, in batches of 256."""
    data = load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))
    train = list(zip(*seed_tensors(data.train_images, data.train_labels), strict=True))
    valid = list(zip(*seed_tensors(data.valid_images, data.valid_labels), strict=True))
    return DataLoaders(DataLoader(train, batch_size=256), DataLoader(valid, batch_size=256))


def trained(dls: DataLoaders, model: nn.Module, epochs: int, lr: float) -> Learner:
    torch.manual_seed(0)
    learn = Learner(dls, model, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    learn.fit(epochs, lr)
    return learn


def cli(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mnist_sgd", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("which", ["simple_net", "linear"])
def test_an_exported_notebook_model_is_a_run_the_cli_predicts_and_evaluates(
    which: str, book_dls: DataLoaders, shared_data: Path, sample_cache: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    if which == "simple_net":
        model: nn.Module = nn.Sequential(nn.Linear(28 * 28, 30), nn.ReLU(), nn.Linear(30, 1))
        learn = trained(book_dls, model, 10, 0.1)
    else:
        learn = trained(book_dls, nn.Linear(28 * 28, 1), 5, 1.0)
    accuracy = learn.recorder.values[-1][2]
    run_dir = learn.export(tmp_path / which)
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["init.safetensors", "metrics.jsonl", "model.safetensors", "plots", "run.json"]
    assert (run_dir / "plots" / "history.png").stat().st_size > 0  # its curves, as a trained run's
    info = read_run_info(run_dir)
    assert info["status"] == "done" and info["classes"] == ["3", "7"]
    assert info["dataset"] == "mnist_sample" and info["model"]["name"] == "layers"
    assert not any(p.suffix in (".pkl", ".pt", ".pth") for p in run_dir.iterdir())

    # three validation images as files: a 3, a 7, and the learner's own verdicts on them
    images = sorted((sample_cache / "extracted").glob("mnist_sample/valid/*/*.png"))
    if not images:
        from mnist_sgd.datasets import fetch

        root = fetch("mnist_sample", DataOptions(cache_dir=sample_cache), extract=True)
        images = sorted(root.glob("valid/*/*.png"))
    picks = [images[0], images[500], images[-1]]
    env = {"MNIST_SGD_CACHE": str(sample_cache), "MNIST_SGD_MIRROR": str(shared_data)}
    predicted = cli("predict", run_dir, *picks, "--json", env=env)
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    mine = [learn.predict(path) for path in picks]
    assert [r["label"] for r in rows] == [info["classes"][index] for _, index, _ in mine]
    for row, (_, _, probs) in zip(rows, mine, strict=True):
        assert row["probabilities"]["3"] == pytest.approx(float(probs[0]), abs=1e-5)
    assert [r["label"] for r in rows] == [p.parent.name for p in picks]  # a trained model

    scored = cli("evaluate", run_dir, "--json", "--offline", env=env)
    assert scored.returncode == 0, scored.stderr
    summary = json.loads(scored.stdout)
    assert summary["items"] == 2038
    assert summary["accuracy"] == pytest.approx(accuracy, abs=1e-4)  # the same 2038 images

    again = load_learner(run_dir)
    for path, (_, index, probs) in zip(picks, mine, strict=True):
        label2, index2, probs2 = again.predict(path)
        assert (label2, index2) == (info["classes"][index], index)  # the run knows its classes
        torch.testing.assert_close(probs2, probs)
    init = load_run(run_dir).initial_state()
    assert init is not None and all(torch.equal(init[k], v) for k, v in learn.initial_state.items())


def test_the_librarys_models_and_layer_stacks_round_trip(tmp_path: Path) -> None:
    from mnist_sgd.core.model import Linear1
    from mnist_sgd.core.nets import cnn

    for model in (cnn(n_out=10), nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(784, 10))):
        rebuilt = build_layers(describe_layers(model))
        assert [type(m) for m in rebuilt.modules()] == [type(m) for m in model.modules()]
        rebuilt.load_state_dict(model.state_dict())
        x = torch.rand(2, 1, 28, 28)
        torch.testing.assert_close(rebuilt.eval()(x), model.eval()(x))
    dls = DataLoaders(DataLoader([]), DataLoader([]), vocab=["3", "7"])
    learn = Learner(dls, Linear1(), loss_func=mnist_loss)
    run_dir = learn.export(tmp_path / "linear1")
    assert read_run_info(run_dir)["model"]["name"] == "linear"
    image = torch.rand(28, 28)
    assert load_learner(run_dir).predict(image)[0] == learn.predict(image)[0]


def test_what_cannot_be_exported_is_named(tmp_path: Path) -> None:
    class Mine(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :1]

    dls = DataLoaders(DataLoader([]), DataLoader([]))
    with pytest.raises(ModelFileError, match="cannot export a Mine; what can be exported: the"):
        Learner(dls, Mine(), loss_func=mnist_loss).export(tmp_path / "a")
    with pytest.raises(ModelFileError, match="cannot export a GELU; what can be exported"):
        Learner(dls, nn.Sequential(nn.Linear(784, 1), nn.GELU())).export(tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    Learner(dls, nn.Linear(784, 1)).export(tmp_path / "c")
    with pytest.raises(ValueError, match="already holds a run"):
        Learner(dls, nn.Linear(784, 1)).export(tmp_path / "c")


@pytest.mark.slow
def test_report_and_serve_accept_an_exported_run(
    book_dls: DataLoaders, sample_cache: Path, tmp_path: Path
) -> None:
    import io
    import warnings

    from PIL import Image
    from starlette.testclient import TestClient

    from mnist_sgd.cli import main
    from mnist_sgd.web import create_app

    model = nn.Sequential(nn.Linear(28 * 28, 30), nn.ReLU(), nn.Linear(30, 1))
    run_dir = trained(book_dls, model, 2, 0.1).export(tmp_path / "net")
    data = ["--cache-dir", str(sample_cache), "--offline"]
    assert main(["report", str(run_dir), *data]) == 0
    assert (run_dir / "report.html").stat().st_size > 10_000
    buffer = io.BytesIO()
    three = (next(iter(book_dls.valid))[0][0] * 255).round().to(torch.uint8).view(28, 28)
    Image.fromarray(three.numpy()).save(buffer, format="PNG")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = TestClient(create_app(run_dir))
    assert client.get("/api/info").json()["classes"] == ["3", "7"]
    answer = client.post(
        "/api/predict", content=buffer.getvalue(), headers={"content-type": "image/png"}
    )
    assert answer.status_code == 200 and answer.json()["label"] in ("3", "7")

"""The learning-rate finder: geometric lrs, a sensible suggestion, the learner left untouched."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from mnist_sgd.callbacks.lr_find import lr_find, minimum, steepest, valley
from mnist_sgd.core.data import DataLoader, DataLoaders
from mnist_sgd.core.learner import Callback
from mnist_sgd.core.loss import cross_entropy
from mnist_sgd.core.metrics import accuracy
from mnist_sgd.core.optim import SGD
from mnist_sgd.verbs import Learner  # the chapter's Learner with learn.lr_find attached


def toy_learner(seed: int = 0) -> Learner:
    """Three separable blobs in 2-D, a tiny net with batch norm (so buffers matter too)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = torch.arange(300) % 3
    x = centres[y] + torch.randn(300, 2, generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    dls = DataLoaders(
        DataLoader(list(zip(x, y, strict=True)), batch_size=20, shuffle=True, seed=seed),
        DataLoader(list(zip(x, y, strict=True)), batch_size=300),
    )
    return Learner(dls, model, opt_func=SGD, loss_func=cross_entropy, metrics=accuracy)


def test_lrs_grow_geometrically_and_losses_are_finite() -> None:
    result = lr_find(toy_learner(), start_lr=1e-5, end_lr=10, num_it=50, stop_div=False)
    assert len(result.lrs) == len(result.losses) == 50
    assert result.lrs[0] == pytest.approx(1e-5) and result.lrs[-1] == pytest.approx(10)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:], strict=False)]
    assert max(ratios) == pytest.approx(min(ratios))
    assert all(math.isfinite(v) for v in result.losses)


def test_suggestion_is_where_the_loss_falls() -> None:
    result = lr_find(toy_learner(), num_it=100)
    assert 1e-4 < result.suggestion < 5.0
    for lr in (result.valley, result.steepest, result.minimum):
        assert result.lrs[0] <= lr * 10 and lr <= result.lrs[-1]
    at = result.lrs.index(result.valley)
    assert result.losses[at] < result.losses[0]


def test_it_stops_when_the_loss_explodes() -> None:
    result = lr_find(toy_learner(), start_lr=1e-3, end_lr=1e6, num_it=100)
    assert len(result.lrs) < 100
    assert result.lrs[-1] < 1e6


def test_weights_buffers_and_rngs_are_put_back() -> None:
    learn = toy_learner()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    loader_state = learn.dls.train.rng_state()
    torch_state = torch.get_rng_state()
    lr_find(learn, num_it=30)
    after = learn.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # incl. batch norm's running stats
    assert all(p.grad is None for p in learn.model.parameters())
    assert torch.equal(learn.dls.train.rng_state(), loader_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert learn.opt is None  # the learner's own optimiser is not made or touched


def test_a_fit_after_the_finder_is_the_fit_without_it() -> None:
    plain, probed = toy_learner(), toy_learner()
    lr_find(probed, num_it=40)
    h1, h2 = plain.fit(2, lr=0.1), probed.fit(2, lr=0.1)
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]


def test_suggestion_rules_on_a_made_up_curve() -> None:
    lrs = [10 ** (-6 + i * 0.1) for i in range(61)]  # 1e-6 .. 1
    # flat, then a fall between 1e-4 and 1e-2 (fastest at 1e-3), then a rise
    losses = [
        2.0 - math.tanh(2 * (math.log10(lr) + 3)) + max(0.0, math.log10(lr) + 1.5) ** 2
        for lr in lrs
    ]
    assert steepest(lrs, losses) == pytest.approx(1e-3, rel=0.3)
    assert 1e-4 < valley(lrs, losses) < 3e-2
    low = min(range(len(losses)), key=losses.__getitem__)
    assert minimum(lrs, losses) == pytest.approx(lrs[low] / 10)


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_find(toy_learner(), start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="num_it must be >= 5"):
        lr_find(toy_learner(), num_it=2)


@pytest.mark.slow
def test_cli_lr_find_on_mnist_sample(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnist_sgd.cli import lr_find as command

    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "lr-find",
            "--mirror",
            str(shared_data),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--offline",
            "--num-it",
            "40",
            "--device",
            "cpu",
            "--json",
            "--plot",
            str(tmp_path / "lr.png"),
        ]
    )
    assert args.run(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["lrs"]) == len(out["losses"]) >= 10
    assert out["lrs"][0] <= out["valley"] <= out["lrs"][-1]
    if out["plot"] is not None:
        assert (tmp_path / "lr.png").is_file()


class Spy(Callback):
    """Counts the events of the fit that drives the finder."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def before_fit(self, learn: Learner) -> None:
        self.events.append("before_fit")

    def after_batch(self, learn: Learner) -> None:
        self.events.append("after_batch")

    def after_fit(self, learn: Learner) -> None:
        self.events.append("after_fit")


def test_the_finder_is_a_callback_that_learner_fit_drives() -> None:
    learn, spy = toy_learner(), Spy()
    result = lr_find(learn, num_it=40, stop_div=False, cbs=[spy])
    assert spy.events[0] == "before_fit" and spy.events[-1] == "after_fit"
    assert spy.events.count("after_batch") == 40 == len(result.lrs)  # cancelled after num_it
    assert learn.history == [] and learn.opt is None  # the learner's own fit state is untouched
    method = toy_learner().lr_find(num_it=40, stop_div=False, show_plot=False)
    assert method.lrs == result.lrs and method.losses == result.losses


def test_the_cli_defaults_are_the_librarys() -> None:
    import importlib

    library = importlib.import_module(
        "mnist_sgd.callbacks.lr_find"
    )  # the package exports the function
    command = importlib.import_module("mnist_sgd.cli.lr_find")

    assert (command.START_LR, command.END_LR, command.NUM_IT) == (
        library.START_LR,
        library.END_LR,
        library.NUM_IT,
    )


@pytest.mark.slow
def test_the_suggestion_trains_the_seeds_model_well(sample_cache: Path) -> None:
    """The book trains the seed's model at lr 1.0; fastai's finder settings said 0.29."""
    from mnist_sgd.config.build import TrainConfig, build_learner
    from mnist_sgd.datasets import DataOptions, load_dataset

    data = load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))
    config = TrainConfig()  # the seed: linear, mnist_loss, SGD, bs 256, 20 epochs
    suggestion = build_learner(config, data).lr_find(show_plot=False).suggestion
    assert 0.5 <= suggestion <= 3.0
    history = build_learner(config, data).fit(config.epochs, lr=suggestion)
    assert history[-1]["batch_accuracy"] >= 0.965


@pytest.mark.slow
def test_cli_writes_the_plot_into_a_run_folder_never_the_cwd(
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mnist_sgd.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    data = ["--mirror", str(shared_data), "--cache-dir", str(tmp_path / "cache"), "--offline"]
    assert main(["lr-find", "--num-it", "30", "--device", "cpu", "--run", "run", *data]) == 0
    out, err = capsys.readouterr()
    assert "plot saved to run/plots/lr_find.png" in out and "\r" not in err
    assert (tmp_path / "run" / "plots" / "lr_find.png").stat().st_size > 10_000
    assert main(["lr-find", "--num-it", "30", "--device", "cpu", *data]) == 0
    assert "no plot saved" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "run"]

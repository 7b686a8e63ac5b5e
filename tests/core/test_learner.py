"""The chapter's loop (``calc_grad``, ``train_epoch``, ``validate_epoch``) and the ``Learner``.

Tiny synthetic data: 70 items of 8 features, batches of 16 (the last one of 6),
so that item means and batch means differ and every run takes milliseconds.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import Tensor, nn

from mnist_sgd import (
    SGD,
    BasicOptim,
    Callback,
    CancelFitException,
    DataLoader,
    DataLoaders,
    Learner,
    Linear1,
    batch_accuracy,
    calc_grad,
    mnist_loss,
    simple_net,
    train_epoch,
    validate_epoch,
)
from mnist_sgd.callbacks import resume
from mnist_sgd.core.callback import EVENTS
from mnist_sgd.errors import TrainingError


def make_data(n: int = 70, n_in: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(n, n_in)`` float32 features and ``(n, 1)`` int64 targets, nearly separable."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_in, generator=g)
    y = (x[:, :4].sum(1, keepdim=True) > x[:, 4:].sum(1, keepdim=True)).long()
    return x, y


def make_dls(seed: int | None = 1, bs: int = 16) -> DataLoaders:
    x, y = make_data()
    vx, vy = make_data(30, seed=5)
    return DataLoaders(
        DataLoader(list(zip(x, y, strict=True)), bs, shuffle=True, seed=seed),
        DataLoader(list(zip(vx, vy, strict=True)), bs),
    )


def make_learner(seed: int | None = 1, model_seed: int = 0, **kwargs) -> Learner:  # type: ignore[no-untyped-def]
    torch.manual_seed(model_seed)
    kwargs["cbs"] = [resume.Resume(), *kwargs.get("cbs", ())]  # resumable, as a run folder's
    return Learner(make_dls(seed), Linear1(8, std=0.1), **kwargs)


def params_of(learn: Learner) -> list[Tensor]:
    return [p.detach().clone() for p in learn.model.parameters()]


def without_seconds(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


class Recorder(Callback):
    """Remembers every event, with the epoch and batch counters at that moment."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []

    def __getattribute__(self, name: str):  # type: ignore[no-untyped-def]
        if name in EVENTS:
            return lambda learn: self.events.append((name, learn.epoch, learn.iter))
        return super().__getattribute__(name)


class CancelAt(Callback):
    """At ``event`` of ``epoch`` (0-based), after batch ``batch``: keep the state, maybe stop."""

    def __init__(self, event: str, epoch: int, batch: int = 0, stop: bool = True) -> None:
        self.event, self.epoch, self.batch, self.stop = event, epoch, batch, stop
        self.saved: tuple[dict[str, Tensor], dict] | None = None

    def after_batch(self, learn: Learner) -> None:
        if self.event == "after_batch" and (learn.epoch, learn.iter) == (self.epoch, self.batch):
            self._fire(learn)

    def after_epoch(self, learn: Learner) -> None:
        if self.event == "after_epoch" and learn.epoch == self.epoch + 1:
            self._fire(learn)

    def _fire(self, learn: Learner) -> None:
        self.saved = resume.state(learn)
        if self.stop:
            raise CancelFitException


# --- the chapter's functions -------------------------------------------------------------


def test_calc_grad_fills_gradients_and_returns_the_loss() -> None:
    x, y = make_data()
    w, b = torch.zeros(8, 1, requires_grad=True), torch.zeros(1, requires_grad=True)
    loss = calc_grad(x, y, lambda xb: xb @ w + b)
    assert loss.item() == pytest.approx(0.5)  # sigmoid(0) = 0.5 for every item
    assert w.grad is not None and b.grad is not None and w.grad.abs().sum() > 0


def test_train_epoch_and_validate_epoch_learn_the_synthetic_task() -> None:
    dls = make_dls()
    torch.manual_seed(0)
    model = Linear1(8, std=0.1)
    before = validate_epoch(model, dls.valid)
    opt = BasicOptim(model.parameters(), lr=1.0)
    for _ in range(20):
        train_epoch(model, dls.train, opt)
    after = validate_epoch(model, dls.valid)
    assert after > before + 0.3
    assert all(p.grad is None for p in model.parameters())  # zero_grad after each step


def test_validate_epoch_is_an_item_mean() -> None:
    # batches of 4, 4, 2: accuracies 1, 1, 0 -> item mean 0.8, batch mean 0.667
    scores = torch.tensor([1.0] * 8 + [-1.0] * 2).unsqueeze(1)
    dl = DataLoader(list(zip(scores, torch.ones(10, 1, dtype=torch.long), strict=True)), 4)
    assert validate_epoch(lambda xb: xb, dl) == pytest.approx(0.8)


# --- Learner: history, metrics, events -----------------------------------------------------


class Fixed(nn.Module):
    """Returns its input as the score; one parameter with zero gradient, so SGD moves nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, xb: Tensor) -> Tensor:
        return xb + 0 * self.w


def test_history_records_are_item_means_not_batch_means() -> None:
    scores = torch.tensor([1.0] * 8 + [-1.0] * 2).unsqueeze(1)
    targets = torch.ones(10, 1, dtype=torch.long)
    dl = DataLoader(list(zip(scores, targets, strict=True)), 4)
    learn = Learner(DataLoaders(dl, dl), Fixed(), opt_func=BasicOptim)
    history = learn.fit(2, lr=0.1)
    assert len(history) == 2
    assert set(history[0]) == {"epoch", "train_loss", "valid_loss", "batch_accuracy", "seconds"}
    assert [r["epoch"] for r in history] == [1.0, 2.0]
    assert history[0]["batch_accuracy"] == pytest.approx(0.8)  # the batch mean would be 2/3
    item_loss = mnist_loss(scores, targets).item()
    assert history[0]["train_loss"] == pytest.approx(item_loss)
    assert history[0]["valid_loss"] == pytest.approx(item_loss)
    assert history[1]["seconds"] >= 0
    assert learn.history is history


def test_several_metrics_are_named_after_their_functions() -> None:
    def always_one(preds: Tensor, yb: Tensor) -> Tensor:
        return torch.ones(())

    learn = make_learner(metrics=[batch_accuracy, always_one])
    record = learn.fit(1, lr=1.0)[0]
    assert record["always_one"] == 1.0 and 0 <= record["batch_accuracy"] <= 1


def test_callback_events_come_in_order() -> None:
    recorder = Recorder()
    learn = make_learner(cbs=[recorder])
    learn.fit(2, lr=1.0)
    n = len(learn.dls.train)
    one_epoch = lambda e: [  # noqa: E731
        ("before_epoch", e, 0),
        *[ev for i in range(n) for ev in (("before_batch", e, i), ("after_batch", e, i + 1))],
        ("after_epoch", e + 1, 0),
    ]
    assert recorder.events == [
        ("before_fit", 0, 0),
        *one_epoch(0),
        *one_epoch(1),
        ("after_fit", 2, 0),
    ]


def test_after_epoch_sees_the_new_record() -> None:
    seen: list[int] = []

    class Look(Callback):
        def after_epoch(self, learn: Learner) -> None:
            seen.append(len(learn.history))

    make_learner(cbs=[Look()]).fit(3, lr=1.0)
    assert seen == [1, 2, 3]


def test_cancel_fit_exception_stops_cleanly_mid_epoch() -> None:
    recorder, cancel = Recorder(), CancelAt("after_batch", epoch=1, batch=2)
    learn = make_learner(cbs=[cancel, recorder])
    history = learn.fit(5, lr=1.0)
    assert len(history) == 1 and (learn.epoch, learn.iter) == (1, 2)
    assert recorder.events[-1] == ("after_fit", 1, 2)
    assert ("after_batch", 1, 2) not in recorder.events  # the cancelling callback came first


def test_cancel_fit_exception_at_epoch_end_keeps_that_epoch() -> None:
    learn = make_learner(cbs=[CancelAt("after_epoch", epoch=1)])
    assert len(learn.fit(5, lr=1.0)) == 2


def test_a_nan_loss_raises_training_error_naming_epoch_and_batch() -> None:
    # lr 1e39 overflows float32: after the first step weights are +-inf or nan
    learn = make_learner()
    with pytest.raises(TrainingError, match=r"epoch 1, batch 2\b.*learning rate"):
        learn.fit(3, lr=1e39)


def test_fit_refuses_bad_arguments() -> None:
    learn = make_learner()
    with pytest.raises(ValueError, match="lr must be > 0"):
        learn.fit(1, lr=0.0)
    with pytest.raises(ValueError, match="n_epoch must be >= 1"):
        learn.fit(0)


def test_validate_and_get_preds() -> None:
    learn = make_learner()
    learn.fit(1, lr=1.0)
    preds, targets = learn.get_preds()
    assert preds.shape == (30, 1) and targets.shape == (30, 1)
    metrics = learn.validate()
    assert metrics["batch_accuracy"] == pytest.approx(batch_accuracy(preds, targets).item())


# --- reproducibility and resume ----------------------------------------------------------


@pytest.mark.parametrize("model", ["linear", "simple_net"])
def test_the_same_seed_gives_bitwise_identical_weights(model: str) -> None:
    def run() -> tuple[list[Tensor], list[dict[str, float]]]:
        torch.manual_seed(3)
        net = Linear1(8, std=0.1) if model == "linear" else simple_net(8, 5)
        learn = Learner(make_dls(seed=3), net, opt_func=functools.partial(SGD, mom=0.9))
        history = learn.fit(3, lr=0.5)
        return params_of(learn), history

    (w1, h1), (w2, h2) = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(w1, w2, strict=True))
    assert without_seconds(h1) == without_seconds(h2)


def uninterrupted(n_epoch: int = 3, **kwargs) -> tuple[list[Tensor], list[dict[str, float]]]:  # type: ignore[no-untyped-def]
    learn = make_learner(**kwargs)
    history = learn.fit(n_epoch, lr=1.0)
    return params_of(learn), history


def resumed(saved: tuple[dict[str, Tensor], dict], n_epoch: int = 3, **kwargs) -> Learner:  # type: ignore[no-untyped-def]
    """A fresh Learner (other initial weights) that loads ``saved`` and finishes the fit."""
    learn = make_learner(model_seed=99, **kwargs)
    resume.load_state(learn, *saved, lr=1.0)
    learn.fit(n_epoch, lr=1.0, resume=True)
    return learn


def assert_same_run(learn: Learner, reference: tuple[list[Tensor], list[dict[str, float]]]) -> None:
    weights, history = reference
    assert all(torch.equal(a, b) for a, b in zip(params_of(learn), weights, strict=True))
    assert without_seconds(learn.history) == without_seconds(history)


RESUME_CASES = {
    "mid-epoch": ("after_batch", 1, 2),
    "first batch": ("after_batch", 0, 1),
    "last batch": ("after_batch", 1, 5),
    "epoch boundary": ("after_epoch", 0, 0),
}


@pytest.mark.parametrize("opt", ["basic", "momentum"])
@pytest.mark.parametrize("case", RESUME_CASES)
def test_resume_after_cancel_equals_an_uninterrupted_run(case: str, opt: str) -> None:
    opt_func = BasicOptim if opt == "basic" else functools.partial(SGD, mom=0.9, wd=0.01)
    reference = uninterrupted(opt_func=opt_func)
    cancel = CancelAt(*RESUME_CASES[case])
    make_learner(cbs=[cancel], opt_func=opt_func).fit(3, lr=1.0)
    assert cancel.saved is not None
    assert_same_run(resumed(cancel.saved, opt_func=opt_func), reference)


def test_a_state_kept_in_memory_does_not_change_as_training_goes_on() -> None:
    opt_func = functools.partial(SGD, mom=0.9)
    reference = uninterrupted(opt_func=opt_func)
    keep = CancelAt("after_batch", epoch=1, batch=2, stop=False)
    make_learner(cbs=[keep], opt_func=opt_func).fit(3, lr=1.0)
    assert keep.saved is not None
    assert_same_run(resumed(keep.saved, opt_func=opt_func), reference)


def test_resume_with_a_loader_on_the_global_rng() -> None:
    torch.manual_seed(7)
    reference = uninterrupted(seed=None, model_seed=7)
    cancel = CancelAt("after_batch", epoch=1, batch=2)
    make_learner(seed=None, model_seed=7, cbs=[cancel]).fit(3, lr=1.0)
    assert cancel.saved is not None
    learn = make_learner(seed=None, model_seed=99)
    resume.load_state(learn, *cancel.saved, lr=1.0)
    learn.fit(3, lr=1.0, resume=True)
    assert_same_run(learn, reference)


def test_resume_in_the_same_learner_after_cancel() -> None:
    reference = uninterrupted()
    learn = make_learner(cbs=[CancelAt("after_batch", epoch=1, batch=2)])
    learn.fit(3, lr=1.0)
    learn.cbs = [cb for cb in learn.cbs if isinstance(cb, resume.Resume)]
    learn.fit(3, lr=1.0, resume=True)
    assert_same_run(learn, reference)


def test_state_is_json_facts_and_named_tensors() -> None:
    import json

    cancel = CancelAt("after_batch", epoch=0, batch=2)
    make_learner(cbs=[cancel]).fit(2, lr=1.0)
    assert cancel.saved is not None
    tensors, facts = cancel.saved
    json.dumps(facts)
    assert facts["epoch"] == 0 and facts["iter"] == 2
    assert {"model.weights", "model.bias", "rng.torch"} <= set(tensors)
    assert all(t.device.type == "cpu" and t.is_contiguous() for t in tensors.values())
    assert math.isfinite(facts["lr"])

"""Learning-rate schedules: pure functions of (lr, position), and wired into ``Learner``."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mnist_sgd.config.registry import SCHEDULES, get_schedule
from mnist_sgd.core.schedule import constant, cosine, linear_warmup_cosine, one_cycle


def test_constant_is_the_chapters_fixed_lr() -> None:
    assert [constant(0.1, p) for p in (0.0, 0.5, 1.0)] == [0.1, 0.1, 0.1]


def test_cosine_ends_and_middle() -> None:
    assert cosine(1.0, 0.0, 0.0) == 1.0 and cosine(1.0, 0.0, 1.0) == 0.0
    assert cosine(1.0, 0.0, 0.5) == pytest.approx(0.5)


def test_one_cycle_shape_like_fastai() -> None:
    lr = 0.01
    assert one_cycle(lr, 0.0) == pytest.approx(lr / 25)
    assert one_cycle(lr, 0.25) == pytest.approx(lr)
    assert one_cycle(lr, 1.0) == pytest.approx(lr / 1e5)
    assert one_cycle(lr, 0.125) == pytest.approx((lr / 25 + lr) / 2)
    assert one_cycle(lr, 0.625) == pytest.approx((lr + lr / 1e5) / 2)
    assert (
        one_cycle(lr, 0.3, pct_start=0.5, div=10) < lr and one_cycle(lr, 0.5, pct_start=0.5) == lr
    )


@given(st.floats(0, 1), st.floats(0, 1))
def test_one_cycle_rises_then_falls_and_stays_in_range(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    lr = 0.1
    assert lr / 1e5 <= one_cycle(lr, lo) <= lr
    if hi <= 0.25:
        assert one_cycle(lr, lo) <= one_cycle(lr, hi) + 1e-12
    if lo >= 0.25:
        assert one_cycle(lr, lo) >= one_cycle(lr, hi) - 1e-12


def test_positions_outside_0_1_are_clamped() -> None:
    assert one_cycle(1.0, -0.5) == one_cycle(1.0, 0.0)
    assert one_cycle(1.0, 1.5) == one_cycle(1.0, 1.0)


def test_warmup_cosine() -> None:
    assert linear_warmup_cosine(1.0, 0.0) == 0.0
    assert linear_warmup_cosine(1.0, 0.05) == pytest.approx(0.5)
    assert linear_warmup_cosine(1.0, 0.1) == pytest.approx(1.0)
    assert linear_warmup_cosine(1.0, 1.0) == pytest.approx(0.0)


def test_registry_and_options() -> None:
    assert set(SCHEDULES) >= {"constant", "one_cycle"}
    assert get_schedule("one_cycle") is one_cycle
    early = get_schedule("one_cycle", pct_start=0.1)
    assert early(1.0, 0.1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"unknown schedule 'step'.*one_cycle"):
        get_schedule("step")
    with pytest.raises(ValueError, match="pct_start must be in"):
        one_cycle(1.0, 0.5, pct_start=1.0)


def test_learner_follows_the_schedule_batch_by_batch() -> None:
    from mnist_sgd.core.data import DataLoader, DataLoaders
    from mnist_sgd.core.learner import Callback, Learner
    from mnist_sgd.core.loss import cross_entropy
    from mnist_sgd.core.metrics import accuracy
    from mnist_sgd.core.optim import SGD

    x, y = torch.rand(40, 5), torch.arange(40) % 3
    dls = DataLoaders(
        DataLoader(list(zip(x, y, strict=True)), batch_size=10),
        DataLoader(list(zip(x, y, strict=True)), batch_size=40),
    )
    seen: list[float] = []

    class Record(Callback):
        def before_batch(self, learn: Learner) -> None:
            assert learn.opt is not None
            seen.append(learn.opt.lr)

    model = torch.nn.Linear(5, 3)
    Learner(
        dls,
        model,
        opt_func=SGD,
        loss_func=cross_entropy,
        metrics=accuracy,
        cbs=[Record()],
        lr_schedule=one_cycle,
    ).fit(2, lr=0.5)
    want = [one_cycle(0.5, i / 8) for i in range(8)]
    assert seen == pytest.approx(want)
    assert max(seen) <= 0.5 and not any(math.isnan(v) for v in seen)


def test_train_config_names_the_schedule() -> None:
    from mnist_sgd.config.build import TrainConfig

    assert TrainConfig(schedule="one_cycle").schedule == "one_cycle"
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        TrainConfig(schedule="cosine")

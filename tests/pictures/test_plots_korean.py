"""Plots in Korean: Hangul set in NanumGothic (koreanize-matplotlib's file), no empty boxes.

matplotlib warns "Glyph ... missing from font(s)" for every character it draws as an empty
box; here every warning is an error. English plots keep DejaVu Sans first.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from mnist_sgd.pictures import plots

HISTORY = [
    {"epoch": 1, "train_loss": 0.30, "valid_loss": 0.20, "batch_accuracy": 0.90},
    {"epoch": 2, "train_loss": 0.10, "valid_loss": 0.08, "batch_accuracy": 0.95},
]


def test_a_korean_title_draws_without_a_missing_glyph(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plots.plot_lr_find(
            [1e-3, 1e-2, 1e-1, 1.0],
            [0.7, 0.5, 0.3, 2.0],
            tmp_path / "lr.png",
            suggestion=0.1,
            title="학습률 찾기: 손실이 가장 빨리 줄어드는 곳",
            lang="ko",
        )
        plots.plot_history(HISTORY, tmp_path / "history.png", lang="ko")
        plots.plot_confusion(torch.tensor([[5, 1], [2, 6]]), ["셋", "일곱"], tmp_path / "c.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 600


def test_korean_plots_set_hangul_in_nanum_and_english_ones_stay_in_dejavu() -> None:
    from matplotlib import font_manager

    families = plots._families("ko")
    assert families[0] == "NanumGothic" and plots._families("en")[0] == "DejaVu Sans"
    found = font_manager.findfont(font_manager.FontProperties(family=families[0]))
    assert Path(found).name == "NanumGothic.ttf"


def test_without_nanum_the_same_title_would_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above has teeth: DejaVu Sans alone draws this title as empty boxes."""
    monkeypatch.setattr(plots, "_families", lambda lang: ["DejaVu Sans"])
    with pytest.warns(UserWarning, match="missing from font"):
        plots.plot_lr_find([1e-3, 1.0], [0.7, 0.5], tmp_path / "lr.png", title="학습률", lang="ko")

"""The fastcore/fastbook helpers chapter 4 calls (``mnist_sgd.foundation``)."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_sgd import foundation
from mnist_sgd.foundation import (
    MISSING_DOT,
    L,
    MissingModule,
    first,
    gv,
    ls,
    path_repr,
    tensor,
    to_np,
)


def test_l_shows_its_length_and_ten_items_sorts_and_gets_items() -> None:
    ds = L(enumerate(string.ascii_lowercase))
    assert repr(ds) == "(#26) [" + ",".join(repr((i, c)) for i, c in ds[:10]) + ",...]"
    assert repr(L([2, 1])) == "(#2) [2,1]" and L([2, 1]).sorted() == [1, 2]
    assert isinstance(L([2, 1]).sorted(), L)
    assert L([[0.1, 0.2, 0.9], [0.1, 0.2, 0.95]]).itemgot(2) == [0.9, 0.95]


def test_ls_and_the_path_repr_relative_to_base_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "labels.csv").write_text("")
    assert sorted(ls(tmp_path)) == [tmp_path / "labels.csv", tmp_path / "train"]
    assert path_repr(tmp_path / "train") == f"Path('{(tmp_path / 'train').as_posix()}')"
    monkeypatch.setattr(Path, "BASE_PATH", tmp_path, raising=False)
    assert path_repr(tmp_path / "train" / "3") == "Path('train/3')"


def test_tensor_takes_a_pil_image_and_to_np_gives_the_array_back() -> None:
    pixels = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    im = Image.fromarray(pixels)
    assert tensor(im).dtype == torch.uint8 and torch.equal(tensor(im), torch.from_numpy(pixels))
    assert tensor(1, 2, 3).tolist() == [1, 2, 3]
    assert (to_np(tensor(im).float().requires_grad_()) == pixels).all()
    assert first(iter([])) is None and first("ab") == "a"


def test_gv_without_dot_shows_one_line_then_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("graphviz")
    monkeypatch.setattr(foundation.shutil, "which", lambda name: None)
    shown = gv("init->predict")._repr_mimebundle_()
    line, source = shown["text/plain"].split("\n", 1)
    assert line == MISSING_DOT and source == 'digraph G{rankdir="LR"init->predict; }'


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_gv_with_dot_draws_svg() -> None:
    pytest.importorskip("graphviz")
    assert "<svg" in gv("init->predict")._repr_mimebundle_()["image/svg+xml"]


def test_a_missing_optional_package_says_what_to_install_when_used() -> None:
    pd = MissingModule("pandas", "pip install 'mnist-sgd[notebook]'")
    with pytest.raises(ModuleNotFoundError, match=r"pandas is missing; install it with: pip"):
        pd.DataFrame([[1]])

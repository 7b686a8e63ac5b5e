"""The Korean walkthrough ``seed_walkthrough.ko.ipynb``: the seed's sections, the glossary's words.

Saved executed (a reader sees every picture and number without running it), it follows the
seed's headings with the book's code as written, and keeps to the glossary's Korean words.
Run fresh in a Jupyter kernel (nbclient), it prints what the seed prints, draws its Korean
titles in a font that has Hangul (no missing-glyph warning), and ``simple_net`` reaches the
book's accuracy.
"""

from __future__ import annotations

import base64
import io
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from glossary_support import CORE, rivals_in
from mnist_sgd.i18n import glossary

NOTEBOOK = Path(__file__).resolve().parents[2] / "src/mnist_sgd/notebooks/seed_walkthrough.ko.ipynb"
SECTIONS = [  # the seed's three headings as it writes them, then the rest of the chapter
    "## The MNIST Loss Function — MNIST 손실 함수",
    "## Sigmoid — 시그모이드",
    "## SGD and Mini-Batches — SGD와 미니배치",
    "## 모두 합치기 (Putting It All Together)",
    "## 옵티마이저 만들기 (Creating an Optimizer)",
    "## `Learner`",
    "## 비선형성 추가 (Adding a Nonlinearity)",
    "## 용어집 (Jargon Recap)",
]
SEED_PRINTS = [
    "(torch.Size([12396, 784]), torch.Size([12396, 1]))",
    "(torch.Size([784]), tensor([1]))",
    "tensor([0.1000, 0.4000, 0.8000])",
    "tensor(0.4333)",
    "tensor(0.2333)",
]
FONT_PROBE = "import matplotlib.font_manager as fm\nprint(fm.findfont(fm.FontProperties()))"


def markdown(nb: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")


def code(nb: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def html_outputs(nb: nbformat.NotebookNode) -> list[str]:
    return [
        out["data"]["text/html"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]


def check_outputs(nb: nbformat.NotebookNode, terms: list[str]) -> None:
    """The seed's numbers, the pictures, the fit tables and the glossary table with ``terms``."""
    from PIL import Image

    text = outputs_text(nb)
    assert all(printed in text for printed in SEED_PRINTS)
    pictures = [
        Image.open(io.BytesIO(base64.b64decode(out["data"]["image/png"])))
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(pictures) >= 8  # digits, sigmoid, steps vs curve, weights, ReLU, curves, lrs
    assert all(p.width >= 100 and p.height >= 100 for p in pictures)
    html = html_outputs(nb)
    tables = [h for h in html if 'class="mnist-sgd-fit"' in h]
    assert [t.count("<tr>") - 1 for t in tables] == [10, 40, 3, 3, 3, 3]  # epochs of each fit
    (table,) = [h for h in html if "한 줄 설명" in h]  # the glossary, as a table
    assert all(term in table for term in terms)


def test_the_korean_notebook_is_saved_executed_and_small() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert cells and all(cell.execution_count is not None for cell in cells)
    assert not any(out.output_type == "error" for cell in cells for out in cell.outputs)
    assert NOTEBOOK.stat().st_size < 1_000_000
    check_outputs(nb, CORE)  # saved before any term added since: the chapter's seven at least


def test_it_follows_the_seeds_sections_with_the_books_code() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    headings = re.findall(r"^## .*$", markdown(nb), flags=re.MULTILINE)
    found = [next(h for h in headings if h.startswith(s)) for s in SECTIONS]
    assert [headings.index(h) for h in found] == sorted(headings.index(h) for h in found)
    source = code(nb)
    assert source.startswith("from mnist_sgd.book import *\nimport koreanize_matplotlib")
    for line in (
        "train_x = torch.cat([stacked_threes, stacked_sevens]).view(-1, 28*28)",
        "train_y = tensor([1]*len(threes) + [0]*len(sevens)).unsqueeze(1)",
        "def init_params(size, std=1.0): return (torch.randn(size)*std).requires_grad_()",
        "def linear1(xb): return xb@weights + bias",
        "def sigmoid(x): return 1/(1+torch.exp(-x))",
        "    return torch.where(targets==1, 1-predictions, predictions).mean()",
        "dl = DataLoader(coll, batch_size=5, shuffle=True)",
        "d1 = DataLoader(ds, batch_size=6, shuffle=True)",
        "class BasicOptim:",
        "learn.fit(40, 0.1)",
        "pd.DataFrame(glossary())",
    ):
        assert line in source


def test_it_keeps_to_the_glossarys_words() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    prose = markdown(nb)
    assert all(word in prose for word in CORE)
    titles = "\n".join(re.findall(r"'([^']*[가-힣][^']*)'", code(nb)))  # the pictures' words
    assert "손실" in titles and "정확도" in titles
    assert rivals_in(prose + titles) == []


def test_the_rival_words_are_caught_and_the_glossarys_own_are_not() -> None:
    assert rivals_in("그래디언트와 경사, 로스가 러닝레이트에 따라") == [
        "그래디언트 (say: 기울기)",
        "경사 (say: 기울기)",
        "로스 (say: 손실)",
        "러닝레이트 (say: 학습률)",
    ]
    assert rivals_in("확률적 경사 하강법(SGD)으로 크로스 엔트로피를 줄인다") == []
    assert rivals_in("\n".join(t["ko"] + " " + t["line"] for t in glossary())) == []


@pytest.mark.slow
def test_the_korean_notebook_runs_in_the_venv_kernel(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_SGD_MIRROR", str(shared_data))
    monkeypatch.setenv("MNIST_SGD_CACHE", str(tmp_path_factory.getbasetemp() / "mnist-sgd-cache"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells += [new_code_cell("import sys; print(sys.executable)"), new_code_cell(FONT_PROBE)]
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # a cell that raises fails the test (CellExecutionError)
    assert nb.cells[-2].outputs[0]["text"].strip() == sys.executable
    assert "NanumGothic" in nb.cells[-1].outputs[0]["text"]  # koreanize_matplotlib's font
    streams = [o.text for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream"]
    assert not [s for s in streams if "missing from" in s or "Glyph" in s]  # Hangul drawn
    check_outputs(nb, [t[lang] for t in glossary() for lang in ("en", "ko")])  # all, fresh
    (last,) = [c for c in nb.cells if c.source == "learn.recorder.values[-1][2]"]
    assert float(last.outputs[0]["data"]["text/plain"]) >= 0.975  # simple_net, as the book

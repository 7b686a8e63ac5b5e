"""The seed walkthrough notebook: saved with its outputs, and it runs without an error."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "seed_walkthrough.ipynb"


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_the_notebook_is_saved_with_its_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code)
    assert not any(out.output_type == "error" for cell in code for out in cell.outputs)
    text = outputs_text(nb)
    for number in (
        "torch.Size([12396, 784]), torch.Size([12396, 1])",
        "tensor(0.4333)",
        "tensor(0.2333)",
    ):
        assert number in text


@pytest.mark.slow
def test_the_notebook_runs_in_the_venv_kernel(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_SGD_MIRROR", str(shared_data))
    monkeypatch.setenv("MNIST_SGD_CACHE", str(tmp_path_factory.getbasetemp() / "mnist-sgd-cache"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(new_code_cell("import sys; print(sys.executable)"))
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # a cell that raises fails the test (CellExecutionError)
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.executable
    text = outputs_text(nb)
    assert "(torch.Size([784]), tensor([1]))" in text
    assert "tensor(0.4333)" in text and "tensor(0.2333)" in text
    assert "simple_net       0.98" in text  # the trained model's validation accuracy

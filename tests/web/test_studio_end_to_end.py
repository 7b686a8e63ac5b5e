"""End to end (issue 12): the seed trained through the studio's API, then evaluated by the CLI.

The seed's config (MNIST_SAMPLE, linear, mnist_loss, SGD lr 1, batch 256, 20
epochs) is posted to a real studio app; its event stream is followed to the
end; the run folder it wrote must reach >= 0.96 validation accuracy, and
``python -m mnist_sgd evaluate DIR`` (a separate process) must give the same
figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)

from starlette.testclient import TestClient

SEED = {
    "dataset": "mnist_sample",
    "model": "linear",
    "loss": "mnist_loss",
    "opt": "sgd",
    "lr": 1.0,
    "bs": 256,
    "epochs": 20,
}


@pytest.mark.slow
def test_the_seed_from_the_studio_matches_the_cli(
    tmp_path: Path, shared_data: Path, sample_cache: Path
) -> None:
    from mnist_sgd.datasets import DataOptions
    from mnist_sgd.web import create_studio_app

    options = DataOptions(mirror=str(shared_data), cache_dir=sample_cache, offline=True)
    app = create_studio_app(tmp_path / "runs", data_options=options, device="cpu")
    with TestClient(app) as client:
        tid = client.post("/api/train", json=SEED).json()["id"]
        epochs, done = [], None
        with client.stream("GET", f"/api/train/{tid}/events") as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind in ("epoch", "done", "error"):
                    data = json.loads(line[6:])
                    if kind == "epoch":
                        epochs.append(data)
                    else:
                        done = data
        assert done is not None and done["state"] == "done", done
        state = client.get(f"/api/train/{tid}").json()
    accuracy = state["history"][-1]["batch_accuracy"]
    assert len(epochs) == 20 and accuracy >= 0.96
    run_dir = Path(done["run_dir"])
    assert run_dir.parent == tmp_path / "runs"
    cli = [sys.executable, "-m", "mnist_sgd", "evaluate", str(run_dir), "--json"]
    cli += ["--cache-dir", str(sample_cache), "--mirror", str(shared_data), "--offline"]
    result = subprocess.run(
        cli, capture_output=True, text=True, timeout=300, env={**os.environ}, check=False
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["items"] == 2038
    assert summary["accuracy"] == pytest.approx(accuracy, abs=1e-6)

"""Fuzz the web API's image decoding through the app: any bytes, any content type, never a 500."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from fuzzing import digit, fuzz_settings, mutated, no_hang, png_bytes
from hypothesis import given
from hypothesis import strategies as st

from mnist_sgd import runs
from mnist_sgd.config.registry import get_model

pytest.importorskip("starlette", reason="the web extra is not installed")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from mnist_sgd.web import create_app

PHOTO = (255 - np.kron(digit(4), np.ones((3, 3), np.uint8))).astype(np.uint8)
SEEDS = st.sampled_from(
    [
        png_bytes(digit(0)),
        png_bytes(PHOTO, fmt="JPEG"),
        png_bytes(PHOTO, fmt="GIF"),
        png_bytes(PHOTO, fmt="BMP"),
    ]
)
TYPES = st.sampled_from(["image/png", "image/jpeg", "application/octet-stream", "text/plain", ""])
ANSWERS = {200, 400, 413, 415}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The app over an untrained linear 3-vs-7 run (the weights do not matter here)."""
    folder = tmp_path_factory.mktemp("web-fuzz") / "run"
    torch.manual_seed(0)
    runs.write_run_info(
        folder,
        {
            "format": runs.FORMAT,
            "dataset": "mnist_sample",
            "classes": ["3", "7"],
            "loss": "mnist_loss",
            "model": {"name": "linear", "n_out": 1, "kwargs": {}, "flat": True},
            "metrics": ["batch_accuracy"],
        },
    )
    runs.save_model(folder, get_model("linear"))
    return TestClient(create_app(folder, max_body=50_000), raise_server_exceptions=False)


def post(client: TestClient, data: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    headers["x-requested-with"] = "mnist-sgd"  # as the draw page sends a form upload
    with no_hang():
        response = client.post("/api/predict", content=data, headers=headers)
    assert response.status_code in ANSWERS, (response.status_code, response.text[:200])
    body = response.json()
    if response.status_code == 200:
        assert body["label"] in ("3", "7") and abs(sum(body["probabilities"]) - 1) < 1e-4
    else:
        assert isinstance(body["error"], str) and "\n" not in body["error"].strip()
        assert "Traceback" not in body["error"]


@fuzz_settings()
@given(data=mutated(SEEDS), content_type=TYPES)
def test_mutated_uploads(client: TestClient, data: bytes, content_type: str) -> None:
    post(client, data, content_type)


@fuzz_settings()
@given(data=st.binary(max_size=1024))
def test_random_bodies(client: TestClient, data: bytes) -> None:
    post(client, data, "image/png")

"""``serve RUN --collect DIR``: drawings saved as PNGs, label checked, quota, Host guard."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)
with warnings.catch_warnings():  # Starlette 1.x would rather see httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from mnist_sgd.datasets import DataOptions, load_dataset
from mnist_sgd.web import create_app
from mnist_sgd.web.shared.collect import Collector

LOCAL = ["127.0.0.1", "localhost"]
PNG = {"content-type": "image/png", "host": "127.0.0.1:8000"}


def drawing(seed: int) -> bytes:
    """A white stroke on black, as the page's canvas sends it (280x280)."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[60 + seed : 220, 120:150] = 255
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


def client(run: Path, folder: Path, **quota: int) -> TestClient:
    classes = TestClient(create_app(run)).get("/api/info").json()["classes"]
    app = create_app(run, allowed_hosts=LOCAL, collect=Collector(folder, classes, **quota))
    return TestClient(app, raise_server_exceptions=False)


def test_saves_drawings_that_load_as_a_dataset(web_run: Path, tmp_path: Path) -> None:
    web = client(web_run, tmp_path / "mine")
    label = web.get("/api/info", headers={"host": "127.0.0.1"}).json()["classes"][0]
    assert web.get("/api/info", headers={"host": "127.0.0.1"}).json()["collect"] is True
    for seed in range(4):
        answer = web.post(f"/api/collect?label={label}", content=drawing(seed), headers=PNG)
        assert answer.status_code == 200, answer.text
    saved = sorted((tmp_path / "mine" / label).iterdir())
    assert len(saved) == 4 and all(p.suffix == ".png" for p in saved)
    assert Image.open(saved[0]).size == (28, 28)
    data = load_dataset(str(tmp_path / "mine"), DataOptions(cache_dir=tmp_path / "c"))
    assert data.classes == (label,) and len(data.train_labels) + len(data.valid_labels) == 4


def test_refuses_a_label_a_full_folder_and_a_foreign_host(web_run: Path, tmp_path: Path) -> None:
    web = client(web_run, tmp_path / "mine", max_files=1)
    label = web.get("/api/info", headers={"host": "127.0.0.1"}).json()["classes"][0]
    wrong = web.post("/api/collect?label=../../etc", content=drawing(0), headers=PNG)
    assert wrong.status_code == 422 and "not one of the run's classes" in wrong.json()["error"]
    assert (
        web.post(f"/api/collect?label={label}", content=drawing(0), headers=PNG).status_code == 200
    )
    full = web.post(f"/api/collect?label={label}", content=drawing(1), headers=PNG)
    assert full.status_code == 409 and "is full" in full.json()["error"]
    foreign = web.post(
        f"/api/collect?label={label}",
        content=drawing(2),
        headers={"content-type": "image/png", "host": "evil.example"},
    )
    assert foreign.status_code == 400
    assert len(list((tmp_path / "mine").glob("*/*"))) == 1  # nothing else written, no temp left


def test_without_collect_the_route_is_404(web_run: Path) -> None:
    web = TestClient(create_app(web_run), raise_server_exceptions=False)
    assert web.post("/api/collect?label=3", content=drawing(0), headers=PNG).status_code == 404
    assert web.get("/api/info").json()["collect"] is False


def test_serve_refuses_collect_beyond_loopback(web_run: Path, tmp_path: Path) -> None:
    from mnist_sgd import cli

    argv = ["serve", str(web_run), "--collect", str(tmp_path), "--host", "0.0.0.0", "--port", "0"]
    assert cli.main(argv) == 2


@pytest.mark.browser
def test_the_page_draws_picks_a_label_and_saves(
    browser: object, web_run: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from browser_support import save_shot, serve_in_thread
    from mnist_sgd.cli.serve import LOOPBACK_NAMES

    classes = TestClient(create_app(web_run)).get("/api/info").json()["classes"]
    folder = tmp_path / ("a_class_folder_named_long_enough_" * 3)  # its path must wrap on the page
    app = create_app(web_run, allowed_hosts=LOOPBACK_NAMES, collect=Collector(folder, classes))
    server = serve_in_thread(app)
    page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    try:
        page.goto(next(server))
        expect(page.locator("#collect-block")).to_be_visible(timeout=20_000)
        box = page.locator("#canvas").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.8, steps=8)
        page.mouse.up()
        page.select_option("#collect-label", classes[-1])
        page.click("#collect-save")
        expect(page.locator("#collect-status")).to_contain_text("saved as", timeout=20_000)
        save_shot(page, tmp_path, "collect.png", "#draw-card")
        saved = list((folder / classes[-1]).glob("*.png"))
        assert len(saved) == 1
        ink = np.asarray(Image.open(saved[0]))
        assert ink.shape == (28, 28) and ink.max() > 200  # the stroke, white on black
        status, card = (page.locator(s).bounding_box() for s in ("#collect-status", "#draw-card"))
        assert (
            card["x"] <= status["x"] and status["x"] + status["width"] <= card["x"] + card["width"]
        )
        picker = page.locator("#collect-label").bounding_box()
        assert picker["width"] > 20 and picker["height"] > 10  # drawn, not collapsed
    finally:
        page.close()
        next(server, None)

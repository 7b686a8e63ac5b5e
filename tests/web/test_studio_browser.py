"""The studio page, and serve's bars and weight pictures, in headless Chromium (issue 12).

Real uvicorn servers on free loopback ports, real trainings on the shared
MNIST_SAMPLE, Debian's chromium driven by Playwright (launched as in
test_web_browser.py). What a person sees is checked in screenshots' pixels:
loss points on the chart, weight pictures that change, a pause that holds
the picture still, a step of exactly one batch, the bars' filled widths.
Screenshots go to a temporary folder (and to ``$MNIST_SGD_WEB_SHOTS`` when set).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import MARKS, save_shot, serve_in_thread

pytestmark = MARKS
pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)
pytest.importorskip("playwright", reason="needs the Python package playwright (dev extra)")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from web_support import draw_like_the_page, png_bytes, strokes  # noqa: E402

TIMEOUT_S = 60
BLUE = (0x2F, 0x6F, 0xDE)  # the first training's colour (studio.js COLORS[0])
ORANGE = (0xD9, 0x48, 0x0F)  # the second's


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, sample_cache: Path
) -> Iterator[str]:
    from mnist_sgd.cli.serve import LOOPBACK_NAMES
    from mnist_sgd.datasets import DataOptions
    from mnist_sgd.web import create_studio_app

    app = create_studio_app(
        tmp_path_factory.mktemp("studio-browser") / "runs",
        data_options=DataOptions(mirror=str(shared_data), cache_dir=sample_cache, offline=True),
        device="cpu",
        allowed_hosts=LOOPBACK_NAMES,
    )
    yield from serve_in_thread(app)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("studio-shots")


@pytest.fixture(scope="module")
def sample(sample_cache: Path) -> Any:
    from mnist_sgd.datasets import DataOptions, load_dataset

    return load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))


def shot(page: Any, shots: Path, name: str, selector: str | None = None) -> np.ndarray:
    """``save_shot``'s screenshot as RGB pixels, ``(h, w, 3)`` ints."""
    path = save_shot(page, shots, name, selector)
    return np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB")).astype(int)


def near(pixels: np.ndarray, color: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    """Mask of the pixels within ``tolerance`` of ``color`` on every channel."""
    return np.all(np.abs(pixels - np.array(color)) <= tolerance, axis=-1)


def attribute(page: Any, name: str) -> str:
    return str(page.locator("body").get_attribute(name) or "")


def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    """Poll ``check`` (the page's CSP forbids Playwright's wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def open_studio(browser: Any, studio: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(studio)
    wait_until(lambda: attribute(page, "data-ready") == "true", "the page to load")
    return page, errors


def set_options(page: Any, **options: Any) -> None:
    for key, value in options.items():
        if key in ("dataset", "model", "loss", "opt", "std"):
            page.select_option(f"#{key}", str(value))
        else:
            page.fill(f"#{key}", str(value))


def draw(page: Any, digit: Any) -> None:
    """Trace a digit's ink on the studio's pad with the mouse."""
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 280
    for (x0, y0), (x1, y1) in strokes(digit):
        page.mouse.move(box["x"] + x0 * scale, box["y"] + y0 * scale)
        page.mouse.down()
        page.mouse.move(box["x"] + x1 * scale, box["y"] + y1 * scale, steps=3)
        page.mouse.up()


def test_watch_a_training_pause_and_step(
    browser: Any, studio: str, shots: Path, sample: Any
) -> None:
    page, errors = open_studio(browser, studio)
    shot(page, shots, "studio-0-start.png")
    set_options(page, epochs=300, lr=1, bs=256)
    page.click("#train")
    wait_until(lambda: int(attribute(page, "data-batches")) > 30, "loss points")
    wait_until(lambda: attribute(page, "data-weights-iter") != "", "the weights")
    time.sleep(0.5)  # one redraw
    chart = shot(page, shots, "studio-1-loss-chart.png", "#loss-chart")
    assert near(chart, BLUE).sum() > 200  # the smoothed curve is drawn, in the training's blue
    change_1 = shot(page, shots, "studio-2-change-a.png", "#change canvas")
    first = int(attribute(page, "data-weights-iter"))
    wait_until(lambda: int(attribute(page, "data-weights-iter") or 0) > first + 100, "training")
    change_2 = shot(page, shots, "studio-3-change-b.png", "#change canvas")
    assert np.abs(change_1 - change_2).sum(axis=-1).astype(bool).mean() > 0.2  # it changed
    assert near(change_2, (255, 255, 255), 10).mean() < 0.9  # and is not blank

    digit = next(
        img for img, y in zip(sample.valid_images, sample.valid_labels, strict=True) if y == 1
    )
    draw(page, digit)
    wait_until(lambda: page.locator("#verdict").inner_text().strip() in ("3", "7"), "a verdict")
    assert page.locator("#bars li").count() == 2
    shot(page, shots, "studio-4-drawn.png")

    page.click("#pause")
    wait_until(lambda: attribute(page, "data-state") == "paused", "the pause")
    held = int(attribute(page, "data-batches"))
    time.sleep(0.6)
    still_1 = shot(page, shots, "studio-5-paused-a.png", "#loss-chart")
    time.sleep(1.0)
    still_2 = shot(page, shots, "studio-6-paused-b.png", "#loss-chart")
    assert int(attribute(page, "data-batches")) == held
    assert np.array_equal(still_1, still_2)  # nothing moves while paused

    page.click("#step")
    wait_until(lambda: attribute(page, "data-step-iter") != "", "the step")
    wait_until(lambda: attribute(page, "data-state") == "paused", "paused again")
    time.sleep(0.6)
    assert int(attribute(page, "data-batches")) == held + 1  # exactly one batch
    assert page.locator("#step-batch img").count() == 16
    assert page.locator("#step-grad canvas").count() == 1
    assert float(page.locator("#step-loss").inner_text()) > 0
    steps = shot(page, shots, "studio-7-step.png", "#step-card")
    assert near(steps, (255, 0, 0), 90).sum() + near(steps, (0, 0, 255), 90).sum() > 50  # pictures
    shot(page, shots, "studio-8-stepped-page.png")

    page.click("#stop")
    wait_until(lambda: attribute(page, "data-state") == "stopped", "the stop")
    assert not errors, errors
    page.close()


def test_earlier_curves_stay_and_divergence_shows(browser: Any, studio: str, shots: Path) -> None:
    page, errors = open_studio(browser, studio)
    page.click("#reset")
    set_options(page, epochs=3, lr=0.1)
    page.click("#train")
    wait_until(lambda: attribute(page, "data-state") == "done", "the first training")
    set_options(page, epochs=3, lr=10)
    page.click("#train")
    wait_until(lambda: attribute(page, "data-state") == "done", "the second training")
    time.sleep(0.5)
    chart = shot(page, shots, "studio-9-compare.png", "#acc-chart")
    assert near(chart, BLUE).sum() > 30 and near(chart, ORANGE).sum() > 30  # both curves
    set_options(page, model="simple_net", loss="cross_entropy", lr="1e30", epochs=2, bs=64)
    page.click("#train")
    wait_until(lambda: attribute(page, "data-state") == "diverged", "the divergence")
    assert "probably too high" in page.locator("#message").inner_text()
    time.sleep(0.5)  # one redraw of the legend
    assert page.locator("#legend li").count() == 3
    assert page.locator("#legend li.diverged").count() == 1
    shot(page, shots, "studio-10-diverged.png")
    assert not errors, errors
    page.close()


@pytest.fixture(scope="module")
def serve_run(tmp_path_factory: pytest.TempPathFactory, sample: Any) -> Path:
    """A linear model on MNIST_SAMPLE (2 epochs), as 'mnist-sgd train' saves it."""
    from mnist_sgd.config.build import TrainConfig
    from mnist_sgd.runs import RunTrainer

    out = tmp_path_factory.mktemp("serve-run") / "run"
    RunTrainer(out, TrainConfig(epochs=2), sample).fit()
    return out


@pytest.fixture(scope="module")
def serve(serve_run: Path) -> Iterator[str]:
    from mnist_sgd.cli.serve import LOOPBACK_NAMES
    from mnist_sgd.web import create_app

    yield from serve_in_thread(create_app(serve_run, allowed_hosts=LOOPBACK_NAMES))


def test_serve_bars_fill_in_proportion(
    browser: Any, serve: str, shots: Path, sample: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(serve)
    page.wait_for_selector("#bars li")
    picture = tmp_path / "a-three.png"
    picture.write_bytes(png_bytes(draw_like_the_page(sample.valid_images[0])))
    page.set_input_files("#file", str(picture))
    expect(page.locator("#label")).to_have_attribute("data-source", "upload")
    expect(page.locator("body")).to_have_attribute("data-busy", "false")
    time.sleep(0.4)  # the width transition (0.15 s)
    pixels = shot(page, shots, "serve-bars.png", "#bars")
    origin = page.locator("#bars").bounding_box()
    for item in page.locator("#bars li").all():
        p = float(item.locator(".value").inner_text().rstrip("%")) / 100
        track = item.locator(".track").bounding_box()
        fill = item.locator(".fill").bounding_box()
        assert track["width"] > 50
        assert fill["width"] == pytest.approx(p * track["width"], abs=1.5)
        top = "top" in (item.get_attribute("class") or "")
        row = round(track["y"] - origin["y"] + track["height"] / 2)
        x0 = round(track["x"] - origin["x"])
        line = pixels[row, x0 : x0 + round(track["width"])]
        colour = (0xD9, 0x48, 0x0F) if top else (0x2F, 0x6F, 0xDE)
        filled = near(line[None], colour, 30)[0].sum()
        assert filled == pytest.approx(p * track["width"], abs=3)  # the pixels, not only the box
    assert page.locator("#bars li.top .fill").bounding_box()["width"] > 0.5 * track["width"]
    page.close()


def test_serve_shows_the_weights_and_their_change(
    browser: Any, serve: str, shots: Path, serve_run: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.goto(serve)
    page.wait_for_selector("#change canvas")
    assert page.locator("#weights canvas").count() == 1
    assert page.locator("#change canvas").count() == 1
    weights = shot(page, shots, "serve-weights.png", "#weights canvas")
    change = shot(page, shots, "serve-change.png", "#change canvas")
    # the book's std-1 init: the weights look like noise, the change has a shape; both
    # pictures hold red and blue pixels (a diverging scale centred on 0)
    for pixels in (weights, change):
        reds = (pixels[..., 0] > 200) & (pixels[..., 2] < 150)
        blues = (pixels[..., 2] > 200) & (pixels[..., 0] < 150)
        assert reds.mean() > 0.01 and blues.mean() > 0.01
    assert not np.array_equal(weights, change)
    shot(page, shots, "serve-page.png")
    page.close()

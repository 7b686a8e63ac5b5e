"""The draw-a-digit page end to end in headless Chromium (issue 8).

A real uvicorn server on a free loopback port; Playwright drives Debian's
chromium. The strokes of real MNIST test digits are drawn on the canvas with
pointer events (mouse, then a finger on a phone-sized screen), and the page
must show the digit's label; an uploaded photo must get its label too.
Screenshots go to a temporary folder (and to ``$MNIST_SGD_WEB_SHOTS`` when set).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import MARKS, save_shot, serve_in_thread

pytestmark = MARKS
pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)
pytest.importorskip("playwright", reason="needs the Python package playwright (dev extra)")

from web_support import SHARED_DATA, draw_like_the_page, mnist, photo_like, strokes  # noqa: E402

TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def server(web_run: Path) -> Iterator[str]:
    """``mnist-sgd serve``'s app under uvicorn in a thread, on a free loopback port."""
    from mnist_sgd.cli.serve import LOOPBACK_NAMES
    from mnist_sgd.web import create_app

    yield from serve_in_thread(create_app(web_run, allowed_hosts=LOOPBACK_NAMES))


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web-shots")


@pytest.fixture(scope="module")
def digits(web_run: Path) -> dict[str, Any]:
    """Test digits whose drawn (or photographed) versions the model gets right, by label.

    The page's canvas is imitated with PIL (same strokes, same pen), so the
    choice does not depend on the browser; the browser must then agree.
    """
    from mnist_sgd.predict.preprocess import prepare_image
    from mnist_sgd.runs import load_run

    run = load_run(web_run)
    data = mnist(SHARED_DATA, web_run.parent / "web-cache")
    chosen: dict[str, Any] = {}
    for kind, render in (("drawn", draw_like_the_page), ("photo", photo_like)):
        for label in ("3", "7", "2"):
            chosen[f"{kind}-{label}"] = first_good(run, data, label, render, prepare_image)
    return chosen


def first_good(run: Any, data: Any, label: str, render: Any, prepare: Any) -> Any:
    """The first test digit of class ``label`` predicted right (p > 0.8) once rendered."""
    import torch

    for image, target in zip(data.valid_images[:500], data.valid_labels[:500], strict=True):
        if data.classes[int(target)] != label:
            continue
        probs = run.probabilities(torch.stack([prepare(render(image))]))[0]
        if data.classes[int(probs.argmax())] == label and float(probs.max()) > 0.8:
            return image
    raise AssertionError(f"no test digit {label} is recognised once rendered")


def wait_for_answer(page: Any, source: str) -> str:
    """Wait until the page is idle with an answer from ``source``; the label it shows.

    (Locator assertions, not ``wait_for_function``: the page's CSP forbids eval.)
    """
    from playwright.sync_api import expect

    expect(page.locator("#label")).to_have_attribute("data-source", source, timeout=TIMEOUT_MS)
    expect(page.locator("body")).to_have_attribute("data-busy", "false", timeout=TIMEOUT_MS)
    return str(page.locator("#label").inner_text()).strip()


def draw_with_mouse(page: Any, digit: Any) -> None:
    """Trace the digit's ink row by row as mouse strokes (Chromium makes them pointer events)."""
    box = page.locator("#canvas").bounding_box()
    scale = box["width"] / 280
    for (x0, y0), (x1, y1) in strokes(digit):
        page.mouse.move(box["x"] + x0 * scale, box["y"] + y0 * scale)
        page.mouse.down()
        page.mouse.move(box["x"] + x1 * scale, box["y"] + y1 * scale, steps=3)
        page.mouse.up()


def draw_with_finger(page: Any, digit: Any) -> None:
    """Trace the digit with touch events through the DevTools protocol (pointerType 'touch')."""
    cdp = page.context.new_cdp_session(page)
    box = page.locator("#canvas").bounding_box()
    scale = box["width"] / 280
    for (x0, y0), (x1, y1) in strokes(digit):
        for kind, x, y in (
            ("touchStart", x0, y0),
            ("touchMove", (x0 + x1) / 2, y0),
            ("touchMove", x1, y1),
        ):
            point = {"x": box["x"] + x * scale, "y": box["y"] + y * scale}
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_draw_a_digit_with_the_mouse(
    browser: Any, server: str, digits: dict[str, Any], shots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server)
    page.wait_for_selector("#bars li", timeout=TIMEOUT_MS)
    page.wait_for_selector("#weights canvas", timeout=TIMEOUT_MS)
    assert "mnist" in page.locator("#summary-line").inner_text()
    assert page.locator("#bars li").count() == 10
    assert page.locator("#class-note").is_hidden()  # a ten-digit model: no note (issue 27)
    save_shot(page, shots, "0-start.png")

    draw_with_mouse(page, digits["drawn-3"])
    assert wait_for_answer(page, "canvas") == "3"
    assert int(page.locator("body").get_attribute("data-predictions")) > 1  # live, while drawing
    assert page.locator("#bars li.top").get_attribute("data-class") == "3"
    seen = page.locator("#seen").get_attribute("src")
    assert seen.startswith("data:image/png;base64,") and len(seen) > 200  # not the placeholder
    save_shot(page, shots, "1-drawn-3.png")

    page.click("#undo")
    wait_for_answer(page, "canvas")
    page.click("#clear")
    assert page.locator("#label").inner_text().strip() == "?"

    draw_with_mouse(page, digits["drawn-7"])
    assert wait_for_answer(page, "canvas") == "7"
    save_shot(page, shots, "2-drawn-7.png")
    assert not errors, errors
    page.close()


def test_upload_an_image_file(
    browser: Any, server: str, digits: dict[str, Any], shots: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server)
    page.wait_for_selector("#bars li", timeout=TIMEOUT_MS)
    photo = tmp_path / "my-two.jpg"
    photo.write_bytes(photo_like(digits["photo-2"]))
    page.set_input_files("#file", str(photo))
    assert wait_for_answer(page, "upload") == "2"
    assert "my-two.jpg" in page.locator("#confidence").inner_text()
    save_shot(page, shots, "3-uploaded-2.png")

    drop_file(page, "dropped-seven.jpg", photo_like(digits["photo-7"]))
    assert wait_for_answer(page, "upload") == "7"
    assert "dropped-seven.jpg" in page.locator("#confidence").inner_text()

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not really a png")
    page.set_input_files("#file", str(junk))
    expect(page.locator("#status")).to_contain_text("not a PNG", timeout=TIMEOUT_MS)
    save_shot(page, shots, "5-junk-upload.png")
    page.close()


def drop_file(page: Any, name: str, data: bytes) -> None:
    """Drop a file on the canvas as a drag-and-drop from the desktop would."""
    import base64

    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode()],
    )
    page.dispatch_event("#canvas", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#canvas", "drop", {"dataTransfer": transfer})


def test_draw_with_a_finger_on_a_phone(
    browser: Any, server: str, digits: dict[str, Any], shots: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#bars li", timeout=TIMEOUT_MS)
    draw_with_finger(page, digits["drawn-7"])
    assert wait_for_answer(page, "canvas") == "7"
    assert page.evaluate("window.scrollY") == 0  # the finger drew instead of scrolling
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    save_shot(page, shots, "4-phone-7.png")
    context.close()


def test_static_traversal_over_real_http(server: str) -> None:
    """Raw requests (no client-side normalisation of ``..``) against the running server."""
    host, port = server.removeprefix("http://").rstrip("/").split(":")
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2f..%2ffiles.py"):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 404"), (path, reply[:200])
        assert b'"error"' in reply and b"import" not in reply

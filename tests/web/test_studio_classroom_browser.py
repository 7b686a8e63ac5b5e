"""The studio for the classroom (issue 27) in headless Chromium, on a 1024x768 projector's page.

The speed control holds a training to about one batch a second (counted in the page's batch
events over a few seconds, never timed to the millisecond), the "too large" preset is marked
stuck with its reason while it runs, and the chapter's parabola steps at three learning rates
with three outcomes, in English (locale en-US: the texts asserted are en.json's;
``test_lang_browser.py`` counts the Korean page's words). Screenshots go to a temporary
folder (and ``$MNIST_SGD_WEB_SHOTS``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import MARKS

pytestmark = MARKS
pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)
pytest.importorskip("playwright", reason="needs the Python package playwright (dev extra)")

from test_studio_browser import attribute, near, shot, wait_until  # noqa: E402

from browser_support import serve_in_thread  # noqa: E402

PROJECTOR = {"width": 1024, "height": 768}
GREEN = (0x2B, 0x8A, 0x3E)  # the book's panel (classroom.js PANEL_COLORS[1])


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, sample_cache: Path
) -> Iterator[str]:
    from mnist_sgd.cli.serve import LOOPBACK_NAMES
    from mnist_sgd.datasets import DataOptions
    from mnist_sgd.web import create_studio_app

    app = create_studio_app(
        tmp_path_factory.mktemp("classroom-browser") / "runs",
        data_options=DataOptions(mirror=str(shared_data), cache_dir=sample_cache, offline=True),
        device="cpu",
        allowed_hosts=LOOPBACK_NAMES,
    )
    yield from serve_in_thread(app)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classroom-shots")


def open_projector(browser: Any, studio: str) -> tuple[Any, list[str]]:
    page = browser.new_page(locale="en-US", viewport=PROJECTOR)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(studio)
    wait_until(lambda: attribute(page, "data-ready") == "true", "the page to load")
    wait_until(lambda: attribute(page, "data-classroom") == "ready", "the classroom controls")
    page.click("#reset")
    return page, errors


def batches(page: Any) -> int:
    return int(attribute(page, "data-batches") or 0)


def test_the_slowest_speed_is_about_one_batch_a_second(
    browser: Any,
    studio: str,
    shots: Path,
) -> None:
    page, errors = open_projector(browser, studio)
    page.fill("#epochs", "300")
    page.select_option("#speed", "1")
    page.click("#train")
    wait_until(lambda: batches(page) >= 1, "the first batch")
    first = batches(page)
    time.sleep(4.0)
    seen = batches(page) - first
    assert 2 <= seen <= 6, f"{seen} batch events in about 4 s at 1 batch a second"
    assert page.locator("#steps").is_hidden()  # and no Step was pressed
    wait_until(lambda: attribute(page, "data-digits-iter") != "", "the digits")
    time.sleep(0.5)  # one redraw
    shot(page, shots, "classroom-1-one-batch-a-second.png")
    page.select_option("#speed", "full")  # changed during the run: hundreds a second again
    wait_until(lambda: batches(page) > first + seen + 200, "full speed")
    page.click("#stop")
    wait_until(lambda: attribute(page, "data-state") == "stopped", "the stop")
    assert not errors, errors
    page.close()


def test_a_second_window_and_a_reload_show_the_runs_speed(browser: Any, studio: str) -> None:
    """The teacher's laptop and the projector: both speed controls show the pace the run keeps."""
    teacher, errors = open_projector(browser, studio)
    teacher.fill("#epochs", "300")
    teacher.select_option("#speed", "2")
    teacher.click("#train")
    wait_until(lambda: batches(teacher) >= 1, "the first batch")
    projector = browser.new_page(locale="en-US", viewport=PROJECTOR)  # no Reset: it follows
    more_errors: list[str] = []
    projector.on("pageerror", lambda error: more_errors.append(str(error)))
    projector.goto(studio)
    wait_until(lambda: projector.input_value("#speed") == "2", "the run's speed on a new page")
    teacher.select_option("#speed", "5")
    wait_until(lambda: projector.input_value("#speed") == "5", "the speed event")
    projector.reload()
    wait_until(lambda: attribute(projector, "data-classroom") == "ready", "the reloaded page")
    wait_until(lambda: projector.input_value("#speed") == "5", "the run's speed after a reload")
    teacher.click("#stop")
    wait_until(lambda: attribute(teacher, "data-state") == "stopped", "the stop")
    assert not errors and not more_errors, errors + more_errors
    teacher.close()
    projector.close()


def test_the_too_large_preset_is_named_stuck_with_its_reason(
    browser: Any,
    studio: str,
    shots: Path,
) -> None:
    page, errors = open_projector(browser, studio)
    page.click("#preset-too-large")
    assert page.input_value("#lr") == "1000" and page.input_value("#loss") == "mnist_loss"
    assert page.input_value("#model") == "linear" and page.input_value("#speed") == "5"
    note = page.locator("#preset-note").inner_text()
    assert note.startswith("lr 1000: watch the loss jump") and "marked stuck" in note
    shot(page, shots, "classroom-2-preset-too-large.png", "#options-card")
    page.click("#train")
    wait_until(lambda: batches(page) >= 3, "the first slow batches")
    page.select_option("#speed", "full")  # the class has seen it start; on to the verdict
    wait_until(lambda: attribute(page, "data-stuck") != "", "the stuck mark")
    message = page.locator("#message").inner_text()
    assert message.startswith("stuck: accuracy at chance for an epoch (")
    assert "the sigmoid saturates at this lr" in message
    wait_until(lambda: attribute(page, "data-state") == "stuck", "a stuck end")
    time.sleep(0.5)
    assert "stuck" in page.locator("#live-state").inner_text()
    shot(page, shots, "classroom-3-too-large-stuck.png")

    page.click("#preset-about-right")  # the other two set their own lr and pace
    assert page.input_value("#lr") == "1" and page.input_value("#speed") == "5"
    page.click("#preset-too-small")
    assert page.input_value("#lr") == "0.0001" and page.input_value("#speed") == "10"
    assert "stay almost flat" in page.locator("#preset-note").inner_text()
    page.fill("#lr", "0.5")  # an lr of one's own: the preset's note goes
    assert page.locator("#preset-note").is_hidden()
    assert not errors, errors
    page.close()


def panel_facts(page: Any) -> list[tuple[int, float]]:
    """Each quadratic panel's (step, loss), left to right."""
    panels = page.locator(".quad-panel")
    return [
        (
            int(panels.nth(i).get_attribute("data-step")),
            float(panels.nth(i).get_attribute("data-loss")),
        )
        for i in range(panels.count())
    ]


def test_the_parabola_steps_at_three_learning_rates(
    browser: Any,
    studio: str,
    shots: Path,
) -> None:
    page, errors = open_projector(browser, studio)
    card = page.locator("#quadratic-card")
    wait_until(lambda: card.get_attribute("data-ready") == "true", "the three panels")
    start = panel_facts(page)
    assert [step for step, _ in start] == [0, 0, 0]
    assert len({loss for _, loss in start}) == 1  # the same start in all three
    for _ in range(3):
        page.click("#quad-step")
    stepped = panel_facts(page)
    assert [step for step, _ in stepped] == [3, 3, 3]
    (_, small), (_, book), (_, large) = stepped
    loss0 = start[0][1]
    assert loss0 * 0.9 < small < loss0  # too small: hardly moved
    assert book < loss0 / 10  # the book's lr: most of the way there in three steps
    assert large > loss0 * 2  # too large: the loss grows
    assert "growing" in page.locator(".quad-panel").nth(2).inner_text()
    card.scroll_into_view_if_needed()
    shot(page, shots, "classroom-4-parabola-step-3.png", "#quadratic-card")

    page.select_option("#speed", "50")  # Play follows the speed control
    page.click("#quad-play")
    wait_until(lambda: card.get_attribute("data-step") == "100", "the end of Play")
    assert page.locator("#quad-play").inner_text() == "Play"  # it stops by itself at the end
    book_panel = shot(page, shots, "classroom-5-parabola-step-100.png", "#quadratic-card")
    assert near(book_panel, GREEN, 30).sum() > 200  # the book's fitted parabola is drawn
    page.click("#quad-reset")
    assert [step for step, _ in panel_facts(page)] == [0, 0, 0]
    assert not errors, errors
    page.close()

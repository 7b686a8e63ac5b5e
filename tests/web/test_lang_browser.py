"""The studio, the draw page and a report, read in Korean and in English (issue 27).

Headless Debian chromium with the browser's locale ko-KR, then en-US. Every text a person
can see or hear (visible text, the selects' options, titles, alt and aria labels, the
page's title, the charts' SVG text) is collected from the page, and the words in Latin
letters are counted, beyond names (datasets, models, losses, classes...), numbers, units
and code: in Korean there must be none; in English there must be no Hangul. The 한국어 /
English switch flips the page and keeps the choice. Screenshots of each go to a temporary
folder (and to ``$MNIST_SGD_WEB_SHOTS`` when set), for a person to look at.
"""

from __future__ import annotations

import re
import shutil
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

from web_support import strokes  # noqa: E402

TIMEOUT_S = 60
HANGUL = re.compile("[\uac00-\ud7a3]")
LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+/'’-]*")  # whole: a run's id 108562fb is code
NAMES = {
    # names a Korean text keeps as they are: the method, the API, a data set's, a network's
    *("SGD", "API", "OpenAPI", "MNIST", "CNN", "MLP", "VGG", "TTA", "NaN", "Learner"),
    *("fastbook", "PyTorch"),  # the book's and the library's names
    # keys and code: the update rule p -= lr × grad, keyboard keys, a chip's number format
    *("p", "lr", "grad", "Ctrl+Z", "Esc", "autocast"),
}

# Everything a person reads: visible text (not inside <code>, nor inside an element marked
# as another language, like the switch's "English"), every option of a select, the titles,
# alt and aria labels, the page's title.
READ_TEXT = """() => {
  const texts = [document.title];
  const shown = (el) => el.checkVisibility({ visibilityProperty: true });
  const other = (el) => el.closest("code, [lang]:not(html)");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (el && node.textContent.trim() && !el.closest("select") && shown(el) && !other(el)) {
      texts.push(node.textContent);
    }
  }
  for (const select of document.querySelectorAll("select")) {
    if (shown(select)) for (const option of select.options) texts.push(option.text);
  }
  for (const el of document.querySelectorAll("[title], [alt], [aria-label]")) {
    if (other(el)) continue;
    for (const name of ["title", "alt", "aria-label"]) {
      if (el.getAttribute(name)) texts.push(el.getAttribute(name));
    }
  }
  return texts;
}"""


def foreign_words(texts: list[str], names: set[str]) -> list[str]:
    """The words in Latin letters that are neither names nor code (``mnist_loss``, ``bf16``,
    ``3-vs-7``, a path) nor a unit."""
    found = []
    for text in texts:
        for word in LATIN_WORD.findall(text):
            word = word.rstrip(".'’-/")
            if re.search(r"[0-9_./]", word) or "-" in word or word in names:
                continue
            found.append(word)
    return found


def hangul(texts: list[str]) -> list[str]:
    return [text for text in texts if HANGUL.search(text)]


def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    """Poll ``check`` (the page's CSP forbids Playwright's wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lang-shots")


@pytest.fixture(scope="module")
def sample(sample_cache: Path) -> Any:
    from mnist_sgd.datasets import DataOptions, load_dataset

    return load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory, sample: Any) -> Path:
    """The seed's model (linear, 3 vs 7, 2 epochs), as 'mnist-sgd train' saves it."""
    from mnist_sgd.config.build import TrainConfig
    from mnist_sgd.runs import RunTrainer

    out = tmp_path_factory.mktemp("lang-run") / "seed-run"
    RunTrainer(out, TrainConfig(epochs=2), sample).fit()
    return out


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, sample_cache: Path
) -> Iterator[str]:
    from mnist_sgd.cli.serve import LOOPBACK_NAMES
    from mnist_sgd.datasets import DataOptions
    from mnist_sgd.web import create_studio_app

    app = create_studio_app(
        tmp_path_factory.mktemp("lang-studio") / "runs",
        data_options=DataOptions(mirror=str(shared_data), cache_dir=sample_cache, offline=True),
        device="cpu",
        allowed_hosts=LOOPBACK_NAMES,
    )
    yield from serve_in_thread(app)


@pytest.fixture(scope="module")
def serve(seed_run: Path) -> Iterator[str]:
    from mnist_sgd.cli.serve import LOOPBACK_NAMES
    from mnist_sgd.web import create_app

    yield from serve_in_thread(create_app(seed_run, allowed_hosts=LOOPBACK_NAMES))


@pytest.fixture(scope="module")
def names(studio: str) -> set[str]:
    """What the studio offers by name (datasets, models, losses, optimisers, recipes)."""
    import json
    import urllib.request

    with urllib.request.urlopen(studio.rstrip("/") + "/api/choices") as answer:
        choices = json.load(answer)
    keys = ("datasets", "models", "losses", "optimizers", "schedules")
    return NAMES | {name for key in keys for name in choices[key]} | set(choices["recipes"])


@pytest.fixture(scope="module")
def reports(seed_run: Path, sample: Any, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The seed run's report.html in each language."""
    from mnist_sgd.runs import load_run
    from mnist_sgd.runs.report import write_report

    folder = tmp_path_factory.mktemp("reports")
    pages = {}
    for lang in ("ko", "en"):
        pages[lang] = folder / f"report-{lang}.html"
        shutil.copy(write_report(load_run(seed_run), sample, lang=lang), pages[lang])
    return pages


def new_page(browser: Any, locale: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page, errors


def opened(page: Any, url: str, lang: str) -> None:
    page.goto(url)
    wait_until(lambda: page.locator("html").get_attribute("data-i18n") == lang, f"{lang} text")
    assert page.locator("html").get_attribute("lang") == lang
    if lang == "ko":  # Hangul set in the served NanumGothic, not in empty boxes
        assert page.evaluate("() => document.fonts.check('16px NanumGothic', '한국어')")


def draw_a_digit(page: Any, pad: str, digit: Any) -> None:
    page.locator(pad).scroll_into_view_if_needed()
    box = page.locator(pad).bounding_box()
    scale = box["width"] / 280
    for (x0, y0), (x1, y1) in strokes(digit):
        page.mouse.move(box["x"] + x0 * scale, box["y"] + y0 * scale)
        page.mouse.down()
        page.mouse.move(box["x"] + x1 * scale, box["y"] + y1 * scale, steps=3)
        page.mouse.up()


def train_and_draw(page: Any, sample: Any, **options: Any) -> None:
    """A short training in the studio, then a drawn 3 on its pad, answered."""
    for key, value in options.items():
        page.fill(f"#{key}", str(value))
    page.click("#train")
    body = page.locator("body")
    wait_until(lambda: body.get_attribute("data-state") in ("done", "stuck"), "the end")
    draw_a_digit(page, "#pad", sample.valid_images[0])
    wait_until(lambda: (body.get_attribute("data-predictions") or "0") != "0", "a verdict")
    time.sleep(0.5)  # a redraw of the charts, the live facts and the legend


def the_classroom_in_korean(page: Any, names: set[str], shots: Path) -> None:
    """The classroom's controls on a 1024x768 projector: the speed control (its options too),
    the lr presets with a preset's note, the parabola's three panels three steps on."""
    page.set_viewport_size({"width": 1024, "height": 768})
    body, card = page.locator("body"), page.locator("#quadratic-card")
    wait_until(lambda: body.get_attribute("data-classroom") == "ready", "the classroom controls")
    wait_until(lambda: card.get_attribute("data-ready") == "true", "the three panels")
    for _ in range(3):
        page.click("#quad-step")
    page.click("#preset-too-large")
    note = page.locator("#preset-note").inner_text()
    assert note.startswith("학습률 1000: 손실이") and "정체" in note, note
    assert page.locator("#quad-panels").inner_text().count("스텝 3/100 · 손실") == 3
    assert "커지는 중" in page.locator(".quad-panel").nth(2).inner_text()
    texts = page.evaluate(READ_TEXT)
    for shown in ("속도", "최고 속도", "5 배치/초", "학습률 프리셋:", "너무 큼", "재생", note):
        assert shown in [text.strip() for text in texts], shown
    assert not foreign_words(texts, names), foreign_words(texts, names)
    save_shot(page, shots, "classroom-ko-presets.png", "#options-card")
    card.scroll_into_view_if_needed()
    save_shot(page, shots, "classroom-ko-parabola.png", "#quadratic-card")
    page.select_option("#speed", "full")  # and the options back for the trainings below
    page.click("#reset")
    page.set_viewport_size({"width": 1280, "height": 1000})


def test_the_studio_in_korean_then_english_by_the_switch(
    browser: Any, studio: str, sample: Any, names: set[str], shots: Path
) -> None:
    context, page, errors = new_page(browser, "ko-KR")
    opened(page, studio, "ko")
    assert page.locator("#train").inner_text() == "훈련"
    the_classroom_in_korean(page, names, shots)
    train_and_draw(page, sample, epochs=2)
    texts = page.evaluate(READ_TEXT)
    assert not foreign_words(texts, names | {"3", "7"}), foreign_words(texts, names)
    assert "두 클래스만 압니다" in page.locator("#class-note").inner_text()
    assert page.locator("#live-state").inner_text() == "완료"
    save_shot(page, shots, "studio-ko.png")
    body = page.locator("body")

    page.fill("#epochs", "1000")  # Step: the seven steps of one mini-batch, in Korean
    page.click("#train")
    wait_until(lambda: body.get_attribute("data-state") == "running", "a running training")
    page.click("#pause")
    wait_until(lambda: body.get_attribute("data-state") == "paused", "the pause")
    page.click("#step")
    wait_until(lambda: (body.get_attribute("data-step-iter") or "") != "", "a step")
    texts = page.evaluate(READ_TEXT)
    assert not foreign_words(texts, names | {"3", "7"}), foreign_words(texts, names)
    assert page.locator("#step-params").inner_text().startswith("가중치 784×1: |기울기| ")
    save_shot(page, shots, "studio-ko-step.png", "#step-card")
    page.click("#stop")
    wait_until(lambda: body.get_attribute("data-state") == "stopped", "the stop")

    page.fill("#lr", "1000")  # the book's mnist_loss at lr 1000: stuck at chance, said in Korean
    page.fill("#epochs", "2")
    page.click("#train")
    wait_until(lambda: body.get_attribute("data-state") == "stuck", "a stuck end")
    message = page.locator("#message").inner_text()
    assert (
        message.startswith("정체: 한 에폭 동안 정확도가 우연 수준입니다")
        and "시그모이드" in message
    )
    assert not foreign_words([message], names), message
    save_shot(page, shots, "studio-ko-stuck.png", "#options-card")

    page.click("#lang-switch button[data-lang='en']")  # kept: a reload stays English
    opened(page, studio, "en")
    page.reload()
    opened(page, studio, "en")
    assert page.locator("#train").inner_text() == "Train"
    texts = page.evaluate(READ_TEXT)
    assert not hangul(texts), hangul(texts)  # the earlier trainings too (the legend)
    assert page.locator("#message").inner_text() == ""
    assert not errors, errors
    context.close()


def test_the_studio_in_english(
    browser: Any, studio: str, sample: Any, names: set[str], shots: Path
) -> None:
    context, page, errors = new_page(browser, "en-US")
    opened(page, studio, "en")
    page.click("#reset")
    train_and_draw(page, sample, epochs=2)
    texts = page.evaluate(READ_TEXT)
    assert not hangul(texts), hangul(texts)
    assert page.locator("#class-note").inner_text().startswith("Note: this model knows only two")
    assert page.locator("#lang-switch button[lang='ko']").inner_text() == "한국어"
    save_shot(page, shots, "studio-en.png")
    assert not errors, errors
    context.close()


# Each option of the recipe box, as wide as the box's font draws it, and the room the closed
# box leaves for it (its inner width less its padding and Chromium's arrow, 24 px).
RECIPE_WIDTHS = """() => {
  const box = document.getElementById("recipe");
  const style = getComputedStyle(box);
  const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
  const room = box.clientWidth - padding - 24;
  const pen = document.createElement("canvas").getContext("2d");
  pen.font = style.font;
  return [...box.options].map((o) => [o.text, pen.measureText(o.text).width, room]);
}"""


@pytest.mark.parametrize(("locale", "lang"), [("ko-KR", "ko"), ("en-US", "en")])
def test_every_recipe_fits_the_studio_s_recipe_box(
    browser: Any, studio: str, locale: str, lang: str
) -> None:
    """A chosen recipe shows its whole line (name, net, accuracy), not a line cut at the arrow."""
    context, page, errors = new_page(browser, locale)
    opened(page, studio, lang)
    wait_until(lambda: page.locator("#recipe option").count() > 1, "the recipes")
    widths = page.evaluate(RECIPE_WIDTHS)
    cut = [f"{text!r}: {w:.0f} px in {room:.0f}" for text, w, room in widths if w > room]
    assert not cut, cut
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
def test_the_draw_page(
    browser: Any, serve: str, sample: Any, names: set[str], shots: Path, locale: str
) -> None:
    lang = locale[:2]
    context, page, errors = new_page(browser, locale)
    opened(page, serve, lang)
    wait_until(lambda: page.locator("#run-facts dd").count() > 0, "the run's facts")
    draw_a_digit(page, "#canvas", sample.valid_images[0])
    label = page.locator("#label")
    wait_until(lambda: label.get_attribute("data-source") == "canvas", "a verdict")
    wait_until(lambda: page.locator("body").get_attribute("data-busy") == "false", "idle")
    texts = page.evaluate(READ_TEXT)
    note = page.locator("#class-note").inner_text()
    if lang == "ko":
        assert not foreign_words(texts, names | {"init.safetensors"}), foreign_words(texts, names)
        assert note == (
            "참고: 이 모델은 3, 7 두 클래스만 압니다: 어떤 이미지든 둘 중 하나라고 답합니다."
        )
        assert "에폭 1" in texts  # the chart's own SVG text
    else:
        assert not hangul(texts), hangul(texts)
        assert note.startswith("Note: this model knows only two classes, 3 and 7")
    save_shot(page, shots, f"draw-{lang}.png")
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
def test_a_report_opened_from_its_file(
    browser: Any, reports: dict, names: set[str], shots: Path, locale: str
) -> None:
    """The page is written in one language (``--lang``); the browser's locale does not matter."""
    lang = locale[:2]
    context, page, errors = new_page(browser, "ko-KR" if lang == "en" else "en-US")
    page.goto(reports[lang].as_uri())
    assert page.locator("html").get_attribute("lang") == lang
    texts = page.evaluate(READ_TEXT)
    if lang == "ko":
        assert not foreign_words(texts, names), foreign_words(texts, names)
        # the embedded NanumGothic cut: Hangul drawn in it, not in a fallback's boxes
        assert page.evaluate("() => document.fonts.check('16px NanumGothic', '옵션')")
    else:
        assert not hangul(texts), hangul(texts)
    save_shot(page, shots, f"report-{lang}.png")
    assert not errors, errors
    context.close()

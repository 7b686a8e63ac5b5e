"""One catalogue per language, and the glossary's words in it (issue 27).

``en.json`` and ``ko.json`` hold every text the studio, the draw page, the report and its
plots show: the same keys and the same ``{placeholders}`` in both, no Hangul in English,
and wherever the English says a glossary term (loss, learning rate, epoch...) the Korean
says that term's Korean (손실, 학습률, 에폭...). Every key a page or a script asks for exists.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from mnist_sgd import i18n
from mnist_sgd.config.recipes import RECIPES, SUMMARIES
from mnist_sgd.i18n import Said, catalogue, glossary, pick_lang, text

STATIC = Path(i18n.__file__).parents[1] / "web" / "static"
HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")

# The one place the English says a glossary word in another sense: the book's "seven steps"
# of training are stages (단계), not the SGD step (스텝) that the glossary names.
NOT_THE_TERM = {"step": re.compile(r"seven steps", re.IGNORECASE)}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, ko = catalogue("en"), catalogue("ko")
    assert set(en) == set(ko), set(en) ^ set(ko)
    wrong = {
        key: (en[key], ko[key]) for key in en if placeholders(en[key]) != placeholders(ko[key])
    }
    assert not wrong


def test_english_has_no_hangul_and_korean_is_korean() -> None:
    assert not [line for line in catalogue("en").values() if HANGUL.search(line)]
    # every Korean text with a word in it has Hangul (beyond names: "API (OpenAPI)")
    latin_only = {
        key
        for key, line in catalogue("ko").items()
        if re.search("[A-Za-z]{3}", re.sub(r"\{\w+\}", "", line)) and not HANGUL.search(line)
    }
    assert latin_only <= {"page.api_link"}


@pytest.mark.parametrize("term", glossary(), ids=lambda term: term["en"])
def test_the_korean_says_each_glossary_term_where_the_english_does(term: dict[str, str]) -> None:
    english = term["en"].split(" (")[0].replace("-", " ")  # "stochastic gradient descent"
    said = re.compile(rf"\b{re.escape(english)}", re.IGNORECASE)
    ko = catalogue("ko")
    missing = []
    for key, english_text in catalogue("en").items():
        plain = re.sub(r"\{\w+\}", "", english_text).replace("-", " ")  # not a placeholder's name
        if term["en"] in NOT_THE_TERM:
            plain = NOT_THE_TERM[term["en"]].sub("", plain)
        if said.search(plain) and term["ko"].split("(")[0] not in ko[key]:
            missing.append((key, ko[key]))
    assert not missing, f"{term['en']} is {term['ko']}: {missing}"


SCRIPTS = ("studio.js", "app.js", "i18n.js", "classroom.js")


def test_every_key_the_pages_ask_for_exists() -> None:
    keys = set(catalogue("en"))
    spaces = "|".join(sorted({key.split(".")[0] for key in keys}))
    asked: set[str] = set()
    for page in ("studio.html", "index.html"):
        asked |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', (STATIC / page).read_text()))
    for script in SCRIPTS:
        # t("studio.train"), and a key named apart from its t() call ("preset.too-small")
        asked |= set(re.findall(rf'"((?:{spaces})\.[a-z0-9_-]+)"', (STATIC / script).read_text()))
    assert len(asked) > 120
    assert asked <= keys, asked - keys


def test_each_classroom_preset_has_a_name_and_a_note() -> None:
    """The studio's presets (web/studio/config.py) by name: ``preset.<name>`` on its button,
    ``preset_note.<name>`` (what to watch) under it, with the preset's own lr and epochs."""
    from mnist_sgd.web.studio.config import PRESETS

    for lang in ("en", "ko"):
        keys = set(catalogue(lang))
        names = {key for key in keys if key.startswith("preset.")}
        assert names == {f"preset.{n}" for n in PRESETS}
        notes = {key for key in keys if key.startswith("preset_note.")}
        assert notes == {f"preset_note.{n}" for n in PRESETS}
        for name, preset in PRESETS.items():
            assert placeholders(catalogue(lang)[f"preset_note.{name}"]) <= set(preset)
    assert text("en", "preset_note.too-large", lr=1000, epochs=3).startswith("lr 1000: watch")
    assert text("ko", "preset_note.too-small", lr=0.0001, epochs=3).startswith("학습률 0.0001:")


def test_no_page_says_a_word_of_its_own() -> None:
    """The pages' HTML holds no text but the language names: every word comes by key."""
    for page in ("studio.html", "index.html"):
        html = (STATIC / page).read_text()
        body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
        words = re.findall(r">\s*([^<\s][^<]*?)\s*<", body.split("<body", 1)[1])
        assert not [w for w in words if re.search("[A-Za-z]{2}", w)], words


# Strings of the pages' scripts that are not read: the mode, fonts, a key's English name
NOT_READ = re.compile(r"^(use strict|valid loss|Escape|English|[0-9]+px .*|.*sans-serif)$")


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_script_says_a_word_of_its_own(script: str) -> None:
    """The scripts' string literals hold no words to read: those come by key from t()."""
    source = re.sub(r"(^|\s)//.*$", "", (STATIC / script).read_text(), flags=re.M)
    literals = re.findall(r'"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`', source)
    words = [
        plain
        for quoted in literals
        for plain in [re.sub(r"\$\{[^}]*\}", "", quoted[0] or quoted[1])]
        if (re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", plain) or re.fullmatch(r"[A-Z][a-z]+", plain))
        and not plain.startswith(("#", "."))
        and not NOT_READ.match(plain)
    ]
    assert not words, words


def test_recipes_are_summed_up_from_the_catalogue() -> None:
    assert set(SUMMARIES) == set(RECIPES)
    assert SUMMARIES["seed"] == text("en", "recipe.seed")
    assert all(f"recipe.{name}" in catalogue("ko") for name in RECIPES)


@pytest.mark.parametrize(
    ("preference", "lang"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8", "ko"),
        ("en-US,en;q=0.9,ko;q=0.8", "en"),
        ("fr-FR,ko;q=0.5,en;q=0.4", "ko"),
        ("ko_KR.UTF-8", "ko"),
        ("C.UTF-8", "en"),
        ("", "en"),
        (None, "en"),
        ("ko;q=0", "en"),
    ],
)
def test_pick_lang(preference: str | None, lang: str) -> None:
    assert pick_lang(preference) == lang


def test_a_said_message_renders_in_either_language() -> None:
    said = Said("note.two_classes", {"first": "3", "last": "7"})
    assert said.text("en").startswith("this model knows only two classes, 3 and 7")
    assert "3, 7 두 클래스" in said.text("ko")
    assert said.as_json() == {"key": "note.two_classes", "params": {"first": "3", "last": "7"}}
    with pytest.raises(ValueError, match="lang must be one of en, ko"):
        catalogue("fr")


def test_the_korean_font_is_the_one_koreanize_matplotlib_ships() -> None:
    path = i18n.korean_font()
    assert path.name == "NanumGothic.ttf" and "koreanize_matplotlib" in str(path)
    assert path.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType font

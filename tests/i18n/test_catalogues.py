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


def test_every_key_the_pages_ask_for_exists() -> None:
    keys = set(catalogue("en"))
    asked: set[str] = set()
    for page in ("studio.html", "index.html"):
        asked |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', (STATIC / page).read_text()))
    for script in ("studio.js", "app.js", "i18n.js"):
        asked |= set(re.findall(r'\bt\("([a-z_]+\.[a-z0-9_]+)"', (STATIC / script).read_text()))
    assert len(asked) > 100
    assert asked <= keys, asked - keys


def test_no_page_says_a_word_of_its_own() -> None:
    """The pages' HTML holds no text but the language names: every word comes by key."""
    for page in ("studio.html", "index.html"):
        html = (STATIC / page).read_text()
        body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
        words = re.findall(r">\s*([^<\s][^<]*?)\s*<", body.split("<body", 1)[1])
        assert not [w for w in words if re.search("[A-Za-z]{2}", w)], words


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

"""The words a learner reads, per language: one catalogue per language and one glossary.

``glossary.json`` holds the chapter's terms in English and Korean, one meaning each; the
Korean notebook, ``README.ko.md`` and the Korean catalogue use these words for these ideas.

``en.json`` and ``ko.json`` are the catalogues: every string the studio, the draw page,
``report.html`` and the report's plots show, under one key each, with the same keys and
the same ``{placeholders}`` in both. The pages fetch theirs (``GET /api/strings/{lang}``);
Python renders with :func:`text`. A message made far from its page (a model's classes
note, a training's stuck reason) travels as a :class:`Said`: its key and its parameters,
rendered in whichever language the reader chose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources, util
from pathlib import Path
from typing import Any

LANGS = ("en", "ko")
"""The languages with a catalogue; the first is the default."""


@cache
def glossary() -> list[dict[str, str]]:
    """The glossary's terms: ``{"en": ..., "ko": ..., "line": ...}`` each."""
    data: dict[str, Any] = json.loads(_read("glossary.json"))
    return list(data["terms"])


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The catalogue of ``lang`` (one of :data:`LANGS`): key -> text with ``{placeholders}``."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    data: dict[str, str] = json.loads(_read(f"{lang}.json"))
    return data


def text(lang: str, key: str, **params: object) -> str:
    """The text of ``key`` in ``lang`` with ``params`` filled in.

    Raises:
        KeyError: no such key (a typo in the code, not the reader's doing).
    """
    return catalogue(lang)[key].format(**params)


def pick_lang(preference: str | None) -> str:
    """The catalogue for an ``Accept-Language`` header or a ``LANG`` value, ``"en"`` when none fits.

    ``"ko-KR,ko;q=0.9,en;q=0.8"`` -> ``"ko"``; ``"ko_KR.UTF-8"`` -> ``"ko"``;
    ``"fr-FR,en;q=0.5"`` -> ``"en"``; ``None`` or ``"C.UTF-8"`` -> ``"en"``.
    """
    weighted = []
    for index, part in enumerate((preference or "").split(",")):
        name, _, q = part.strip().partition(";q=")
        primary = name.replace("_", "-").split("-")[0].split(".")[0].lower()
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if primary in LANGS and weight > 0:
            weighted.append((-weight, index, primary))
    return min(weighted)[2] if weighted else LANGS[0]


@dataclass(frozen=True)
class Said:
    """A message by key: rendered in the reader's language where it is shown."""

    key: str
    params: dict[str, str | int | float] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        """The message in ``lang``."""
        return text(lang, self.key, **self.params)

    def as_json(self) -> dict[str, Any]:
        """``{"key": ..., "params": {...}}``, what a page renders with its catalogue."""
        return {"key": self.key, "params": dict(self.params)}


def korean_font() -> Path:
    """NanumGothic.ttf as the ``koreanize-matplotlib`` package ships it (a core dependency).

    Found without importing that package: importing it changes matplotlib's global settings.

    Raises:
        FileNotFoundError: the package is not installed.
    """
    spec = util.find_spec("koreanize_matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "fonts" / "NanumGothic.ttf"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "NanumGothic.ttf not found: install koreanize-matplotlib (pip install koreanize-matplotlib)"
    )


@cache
def korean_web_font(characters: str | None = None) -> bytes:
    """NanumGothic as a browser takes it; cut to ``characters`` when given (a few kB).

    Without the ``TSI*`` tables (the font editor's hinting sources, no use to a reader),
    which Chromium's font sanitiser rejects ("TSI3: zero-length table"): with them the
    browser drops the whole font and draws Hangul as empty boxes. fontTools comes with
    matplotlib.
    """
    import io

    from fontTools import subset

    options = subset.Options()
    options.drop_tables += ["TSI0", "TSI1", "TSI2", "TSI3", "TSI5"]
    font = subset.load_font(str(korean_font()), options)
    if characters is None:
        for tag in [tag for tag in options.drop_tables if tag in font]:
            del font[tag]
    else:
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=characters)
        subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")

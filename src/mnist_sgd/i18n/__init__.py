"""The words a learner reads, per language: one catalogue per language and one glossary.

``glossary.json`` holds the chapter's terms in English and Korean, one meaning each; the
Korean notebook, ``README.ko.md`` and the Korean catalogue use these words for these ideas.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def glossary() -> list[dict[str, str]]:
    """The glossary's terms: ``{"en": ..., "ko": ..., "line": ...}`` each."""
    text = resources.files(__package__).joinpath("glossary.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return list(data["terms"])

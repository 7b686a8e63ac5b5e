"""``README.ko.md``: the README in Korean, its two set-up commands the README's, byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

from glossary_support import CORE, rivals_in

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
README_KO = (ROOT / "README.ko.md").read_text(encoding="utf-8")
FENCED_BASH = re.compile(r"^```bash\n(.*?)^```$", flags=re.MULTILINE | re.DOTALL)


def section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``## ``."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_two_set_up_commands_are_the_readmes_byte_for_byte() -> None:
    commands = FENCED_BASH.findall(section(README, "Quick start"))
    assert len(commands) == 2 and "pip install" in commands[0]
    korean = FENCED_BASH.findall(section(README_KO, "빠른 시작"))
    assert korean == commands


def test_each_readme_links_to_the_other_at_the_top() -> None:
    assert "한국어: [README.ko.md](README.ko.md)" in README.split("\n## ")[0]
    assert "English: [README.md](README.md)" in README_KO.split("\n## ")[0]


def test_it_says_what_the_readme_says() -> None:
    headings = re.findall(r"^## (.*)$", README_KO, flags=re.MULTILINE)
    for heading in (
        "빠른 시작",
        "한 바퀴 둘러보기",
        "스튜디오: 배우는 모습 보기",
        "데이터 구하기",
        "내 데이터",
    ):
        assert heading in headings
    for command in (
        "mnist-sgd train --out runs/seed",
        "mnist-sgd studio",
        "mnist-sgd notebook --lang ko",
    ):
        assert command in README_KO  # the tour, the studio, the Korean walkthrough
    for anchor in re.findall(r"\]\(#([^)]+)\)", README_KO):  # GitHub's anchors for Hangul headings
        assert anchor.replace("-", " ") in [h.lower().replace(":", "") for h in headings]


def test_it_keeps_to_the_glossarys_words() -> None:
    assert all(word in README_KO for word in CORE)
    assert rivals_in(README_KO) == []

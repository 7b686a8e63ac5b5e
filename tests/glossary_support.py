"""Korean text held to the glossary (``mnist_sgd.i18n.glossary()``): its words, not their rivals.

``RIVALS`` maps a word a Korean text might use for one of the glossary's ideas to the glossary's
word for it. A rival inside a longer Hangul word is not one (``크로스`` is not ``로스``), and
``경사`` only counts outside the glossary's own ``확률적 경사 하강법``.
"""

from __future__ import annotations

import re

HANGUL_BEFORE = r"(?<![가-힣])"
RIVALS = {
    HANGUL_BEFORE + r"그래디언트": "기울기",
    HANGUL_BEFORE + r"그라디언트": "기울기",
    HANGUL_BEFORE + r"경사(?! 하강법)": "기울기",
    HANGUL_BEFORE + r"로스": "손실",
    r"러닝 ?레이트": "학습률",
    HANGUL_BEFORE + r"에포크": "에폭",
    r"미니 배치": "미니배치",
    HANGUL_BEFORE + r"웨이트": "가중치",
    HANGUL_BEFORE + r"바이어스": "편향",
    HANGUL_BEFORE + r"파라미터": "매개변수",
}
CORE = ["기울기", "손실", "학습률", "미니배치", "에폭", "가중치", "편향"]


def rivals_in(text: str) -> list[str]:
    """Each rival in ``text``, as ``"rival (say: word)"``; empty when it keeps to the glossary."""
    return [
        f"{match.group(0)} (say: {word})"
        for pattern, word in RIVALS.items()
        for match in re.finditer(pattern, text)
    ]

"""What both servers give every page for its language: the catalogue and the Korean font."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from fontTools.ttLib import TTFont
from starlette.testclient import TestClient

from mnist_sgd.i18n import catalogue
from mnist_sgd.web import create_app


@pytest.fixture(scope="module")
def client(web_run: Path) -> TestClient:
    return TestClient(create_app(web_run))


def test_the_catalogue_of_each_language(client: TestClient) -> None:
    for lang in ("en", "ko"):
        answer = client.get(f"/api/strings/{lang}")
        assert answer.status_code == 200 and answer.json() == catalogue(lang)
    answer = client.get("/api/strings/fr")
    assert answer.status_code == 404 and answer.json()["error"].startswith("no catalogue for 'fr'")
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/strings/{lang}"]["get"]["parameters"][0]["schema"]["enum"] == ["en", "ko"]


def test_the_korean_font_is_one_a_browser_takes(client: TestClient) -> None:
    """NanumGothic from koreanize-matplotlib, less the TSI tables Chromium rejects."""
    answer = client.get("/fonts/NanumGothic.ttf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "font/ttf"
    font = TTFont(io.BytesIO(answer.content))
    assert not [tag for tag in ("TSI0", "TSI1", "TSI2", "TSI3", "TSI5") if tag in font]
    assert ord("손") in font.getBestCmap() and ord("A") in font.getBestCmap()

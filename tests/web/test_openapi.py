"""Both served OpenAPI documents are valid, and what the studio's says of its options is true.

The documents are generated from the route tables (``web/shared/openapi.py``);
here ``openapi-spec-validator`` checks each as served, and the studio's
``TrainOptions`` schema is held to the server: every value its enums list is
accepted, every value past one of its bounds is refused with a 422.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("openapi_spec_validator")
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from mnist_sgd.datasets import DataOptions
from mnist_sgd.web import create_app, create_studio_app


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A studio whose trainings fail at once for want of data: POST only validates here."""
    root = tmp_path_factory.mktemp("openapi")
    (root / "empty").mkdir()
    options = DataOptions(mirror=str(root / "empty"), cache_dir=root / "cache", offline=True)
    app = create_studio_app(root / "runs", data_options=options, device="cpu", max_active=64)
    with TestClient(app) as client:
        yield client


def options_schema(studio: TestClient) -> dict[str, Any]:
    schema: dict[str, Any] = studio.get("/openapi.json").json()["components"]["schemas"]
    return schema["TrainOptions"]


def test_both_documents_are_valid_openapi(studio: TestClient, web_run: Path) -> None:
    draw = TestClient(create_app(web_run)).get("/openapi.json")
    for response in (draw, studio.get("/openapi.json")):
        assert response.status_code == 200
        validate(response.json())  # raises on an invalid document


def test_the_defaults_and_every_recipe_fit_the_options_schema(studio: TestClient) -> None:
    schema = options_schema(studio)
    check = OAS30Validator(schema)
    choices = studio.get("/api/choices").json()
    known = set(schema["properties"])
    for options in [choices["defaults"], *(r["options"] for r in choices["recipes"].values())]:
        check.validate({k: v for k, v in options.items() if k in known})
    for name in ("datasets", "models", "losses", "optimizers", "schedules"):
        key = {"datasets": "dataset", "models": "model", "losses": "loss"}.get(name)
        key = key or {"optimizers": "opt", "schedules": "schedule"}[name]
        assert schema["properties"][key]["enum"] == choices[name], name


def accepted(studio: TestClient, **options: Any) -> bool:
    response = studio.post("/api/train", json={"loss": "cross_entropy", **options})
    assert response.status_code in (202, 422), response.text
    return response.status_code == 202


def test_every_enum_value_is_accepted_and_others_refused(studio: TestClient) -> None:
    for key, spec in options_schema(studio)["properties"].items():
        if "enum" not in spec:
            continue
        for value in spec["enum"]:
            extra = {"dataset": "mnist_sample"} if key == "loss" else {}
            assert accepted(studio, **{key: value, **extra}), (key, value)
        refused = studio.post("/api/train", json={key: "no-such-thing"})
        assert refused.status_code == 422 and refused.json()["option"] == key


def past(spec: dict[str, Any], side: str) -> Any:
    """The first value the schema refuses past its ``minimum`` or ``maximum``."""
    bound, exclusive = spec[side], spec.get(f"exclusive{side.title()}", False)
    step = 1 if spec["type"] == "integer" else 1e-9
    if exclusive:
        return bound
    return bound - step if side == "minimum" else bound + step


def test_every_bound_holds_on_the_server(studio: TestClient) -> None:
    checked = 0
    for key, spec in options_schema(studio)["properties"].items():
        for side in ("minimum", "maximum"):
            if side not in spec:
                continue
            refused = studio.post("/api/train", json={key: past(spec, side)})
            assert refused.status_code == 422, (key, side, refused.text)
            assert refused.json()["option"] == key
            if not spec.get(f"exclusive{side.title()}"):
                assert accepted(studio, **{key: spec[side]}), (key, side)
            checked += 1
    assert checked >= 10


def test_unknown_options_are_refused(studio: TestClient) -> None:
    assert options_schema(studio)["additionalProperties"] is False
    refused = studio.post("/api/train", json={"colour": "blue"})
    assert refused.status_code == 422 and refused.json()["option"] == "colour"

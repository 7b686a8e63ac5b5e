"""OpenAPI 3.0 documents generated from the routes: each ``/api`` route carries its own description.

:func:`openapi_route` serves the document built from the app's own route table, so a route
cannot exist undocumented, nor a documented one not exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mnist_sgd.web.shared.images import IMAGE_TYPES

OPENAPI_VERSION = "3.0.3"
STRING: dict[str, Any] = {"type": "string"}
OBJECT: dict[str, Any] = {"type": "object"}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "one line: what was wrong"}},
}
PREDICTION = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "description": "the predicted class"},
        "index": {"type": "integer", "description": "its position in classes"},
        "probability": {"type": "number", "description": "the predicted class's probability"},
        "classes": {"type": "array", "items": {"type": "string"}},
        "probabilities": {
            "type": "array",
            "items": {"type": "number"},
            "description": "one per class, in the order of classes",
        },
        "seen_png": {
            "type": "string",
            "format": "byte",
            "description": "base64 PNG of the 28x28 grayscale image the model saw",
        },
        "note": {
            "type": "string",
            "nullable": True,
            "description": "for a model of fewer classes than the ten digits: that it calls "
            "every image one of them (as `mnist-sgd predict` notes); else null",
        },
        "note_said": {"allOf": [{"$ref": "#/components/schemas/Said"}], "nullable": True},
    },
}
SAID = {
    "type": "object",
    "description": "a message by catalogue key (GET /api/strings/{lang}) and its parameters, "
    "for the page to show in its reader's language",
    "required": ["key", "params"],
    "properties": {"key": STRING, "params": OBJECT},
}
STRINGS_TEXT = "Every text the pages show, in one language: key -> text with {placeholders} "
STRINGS_TEXT += "(i18n/en.json, i18n/ko.json; the same keys in each)."
IMAGE_BODY = {
    **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_TYPES},
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"image": {"type": "string", "format": "binary"}},
        }
    },
}
"""The image a predict route takes: raw bytes of an image type, or a multipart ``image`` file."""
PREDICT_TEXT = (
    "The image is preprocessed as `mnist-sgd predict` does (grayscale, ink light on dark, "
    "cropped, fitted in 20x20, centred by centre of mass). Send the bytes as the body with an "
    "image Content-Type, or as the `image` file of a multipart/form-data upload."
)
ERRORS_TEXT = 'Errors are `{"error": "..."}` with a 4xx status.'
PREDICT_ERRORS = {
    400: "not an image, a broken image, too many pixels, or no digit in it",
    413: "the body is larger than the server's limit",
    415: "the Content-Type (or the uploaded file's type) is not an image type",
}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def query(name: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


class ApiRoute(Route):
    """A route of one method (``"GET /api/info"``), and its OpenAPI operation.

    The summary is the endpoint's docstring's first line unless given.
    """

    def __init__(
        self,
        route: str,
        endpoint: Callable[..., Any],
        summary: str | None = None,
        *,
        description: str | None = None,
        ok: tuple[int, str, dict[str, Any]] = (200, "", json_content(OBJECT)),
        errors: dict[int, str] | None = None,
        params: Sequence[dict[str, Any]] = (),
        path_schemas: dict[str, dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        method, path = route.split(" ", 1)
        super().__init__(path, endpoint, methods=[method])
        self.method = method.lower()
        summary = summary or (endpoint.__doc__ or "").strip().split("\n")[0]
        status, said, content = ok
        in_path = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name in re.findall(r"{(\w+)}", path)
            for schema in [(path_schemas or {}).get(name, STRING)]
        ]
        operation: dict[str, Any] = {"summary": summary}
        if description:
            operation["description"] = description
        if in_path or params:
            operation["parameters"] = [*in_path, *params]
        if body is not None:
            operation["requestBody"] = {"required": True, "content": body}
        operation["responses"] = {
            str(status): {"description": said or summary}
            | ({"content": content} if content else {}),
            **{
                str(code): {"description": text, "content": json_content(ref("Error"))}
                for code, text in sorted((errors or {}).items())
            },
        }
        self.operation = operation


def openapi_route(title: str, description: str, schemas: Callable[[], dict[str, Any]]) -> Route:
    """``GET /openapi.json``: the document of the app's own :class:`ApiRoute` routes.

    ``schemas()`` gives the component schemas (beyond ``Error``), asked for at each request.
    """
    from mnist_sgd import __version__

    async def openapi(request: Request) -> Response:
        paths: dict[str, dict[str, Any]] = {}
        for route in request.app.routes:
            if isinstance(route, ApiRoute):
                paths.setdefault(route.path, {})[route.method] = route.operation
        return JSONResponse(
            {
                "openapi": OPENAPI_VERSION,
                "info": {"title": title, "description": description, "version": __version__},
                "paths": paths,
                "components": {"schemas": {"Error": ERROR, **schemas()}},
            }
        )

    return Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)

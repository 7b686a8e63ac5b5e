"""The web API (issue 8): predictions on real MNIST digits, the run's summary, and every limit.

Limits: an oversized body (413), a wrong content type (415), garbage bytes and
blank drawings (400), path traversal in static paths (404), and no 500 with a
traceback ever; every error is ``{"error": "..."}`` JSON.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)
with warnings.catch_warnings():  # Starlette 1.x would rather see httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from mnist_sgd import runs
from mnist_sgd.config.registry import get_model
from mnist_sgd.errors import ModelFileError
from mnist_sgd.web import create_app
from mnist_sgd.web.draw import app as api
from mnist_sgd.web.shared import images
from mnist_sgd.web.shared.body import media_type
from mnist_sgd.web.shared.guard import host_name
from mnist_sgd.web.shared.server import STATIC_DIR
from web_support import SHARED_DATA, mnist, photo_like, png_bytes

PNG = {"content-type": "image/png"}
PAGE = {"x-requested-with": "mnist-sgd"}  # as the page sends a form upload


@pytest.fixture(scope="module")
def client(web_run: Path) -> TestClient:
    return TestClient(
        create_app(web_run, max_body=100_000), raise_server_exceptions=False, headers=PAGE
    )


@pytest.fixture(scope="module")
def seven_png() -> bytes:
    """``mnist_png/testing/7/0.png`` from the real MNIST PNG archive (test image 0, a 7)."""
    with tarfile.open(SHARED_DATA / "mnist_png.tgz") as archive:
        for member in archive:
            if member.name.endswith("testing/7/0.png"):
                handle = archive.extractfile(member)
                assert handle is not None
                return handle.read()
    raise AssertionError("mnist_png.tgz holds no testing/7/0.png")


def fake_run(folder: Path, model: str, classes: list[str], history: list[dict[str, float]]) -> Path:
    """A run folder with an untrained model, for shapes and summaries (no data needed)."""
    n_out = 1 if len(classes) == 2 else len(classes)
    runs.save_model(folder, get_model(model, n_out=n_out))
    runs.write_run_info(
        folder,
        {
            "format": runs.FORMAT,
            "dataset": "mnist_sample",
            "classes": classes,
            "model": {"name": model, "n_out": n_out, "flat": True},
            "metrics": ["batch_accuracy"],
        },
    )
    runs.write_history(folder, history)
    return folder


def error_of(response: Any, status: int) -> str:
    """The JSON error message of a response that must have ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    return str(response.json()["error"])


# --- predictions ------------------------------------------------------------------------


def test_predict_real_mnist_png(client: TestClient, seven_png: bytes) -> None:
    answer = client.post("/api/predict", content=seven_png, headers=PNG).json()
    assert answer["label"] == "7" and answer["index"] == 7
    assert answer["classes"] == [str(d) for d in range(10)]
    assert len(answer["probabilities"]) == 10
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert answer["probability"] == max(answer["probabilities"]) > 0.5
    seen = Image.open(io.BytesIO(base64.b64decode(answer["seen_png"])))
    original = Image.open(io.BytesIO(seven_png))
    assert seen.size == (28, 28) and seen.mode == "L"
    assert np.array_equal(np.asarray(seen), np.asarray(original))  # already MNIST: used as it is


def test_predict_multipart_upload(client: TestClient, seven_png: bytes) -> None:
    response = client.post("/api/predict", files={"image": ("0.png", seven_png, "image/png")})
    assert response.status_code == 200 and response.json()["label"] == "7"


def test_photos_of_real_digits_are_preprocessed_like_predict(
    client: TestClient, web_run: Path
) -> None:
    data = mnist(SHARED_DATA, web_run.parent / "web-cache")
    labels = data.valid_labels[:30]
    said = [
        client.post(
            "/api/predict", content=photo_like(digit), headers={"content-type": "image/jpeg"}
        ).json()["label"]
        for digit in data.valid_images[:30]
    ]
    right = sum(s == str(int(y)) for s, y in zip(said, labels, strict=True))
    assert right >= 24, f"{right}/30 photo-like digits right: {said} vs {labels.tolist()}"


def test_info_summarises_the_run(client: TestClient) -> None:
    info = client.get("/api/info").json()
    assert info["dataset"] == "mnist" and info["model"]["name"] == "linear"
    assert info["metric"] == "accuracy" and info["accuracy"] > 0.85
    assert info["epochs"] == len(info["history"]) == 2
    assert {"train_loss", "valid_loss", "accuracy"} <= set(info["history"][0])
    assert info["has_weights"] is True


def test_weights_are_one_picture_per_class(client: TestClient) -> None:
    pictures = client.get("/api/weights").json()
    assert pictures["captions"] == [str(d) for d in range(10)]
    assert np.array(pictures["weights"]).shape == (10, 784)
    assert pictures["scale"] == pytest.approx(np.abs(pictures["weights"]).max(), abs=1e-3)


def test_binary_and_nonlinear_runs(tmp_path: Path) -> None:
    nan_history = [
        {"epoch": 0, "train_loss": float("nan"), "valid_loss": 0.5, "batch_accuracy": 0.9}
    ]
    binary = TestClient(create_app(fake_run(tmp_path / "b", "linear", ["3", "7"], nan_history)))
    info = binary.get("/api/info").json()
    assert info["history"][0]["train_loss"] is None  # NaN is not JSON
    assert info["accuracy"] == 0.9 and info["metric"] == "batch_accuracy"
    assert binary.get("/api/weights").json()["captions"] == ["3 (vs 7)"]
    net = TestClient(create_app(fake_run(tmp_path / "n", "simple_net", ["3", "7"], [])))
    assert net.get("/api/info").json()["has_weights"] is False
    assert "only linear models" in error_of(net.get("/api/weights"), 404)


def test_openapi_documents_every_api_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    routes = {
        route.path: route.methods
        for route in client.app.routes
        if getattr(route, "path", "").startswith("/api/")
    }
    assert set(routes) == set(schema["paths"])
    for path, methods in routes.items():
        assert {m.lower() for m in methods} - {"head"} == set(schema["paths"][path])


def test_plots_from_the_run_folder(tmp_path: Path) -> None:
    folder = fake_run(tmp_path / "run", "linear", ["3", "7"], [])
    (folder / "plots").mkdir()
    picture = png_bytes(np.zeros((4, 4), np.uint8))
    (folder / "plots" / "history.png").write_bytes(picture)
    (folder / "plots" / "notes.txt").write_text("not a plot")
    (folder / "plots" / "link.png").symlink_to(folder / "run.json")
    client = TestClient(create_app(folder))
    assert client.get("/api/info").json()["plots"] == ["history.png"]
    response = client.get("/api/plots/history.png")
    assert response.content == picture and response.headers["content-type"] == "image/png"
    for name in ("link.png", "notes.txt", "run.json", "..%2frun.json"):
        error_of(client.get(f"/api/plots/{name}"), 404)


# --- limits -----------------------------------------------------------------------------


def test_oversized_body_is_413(client: TestClient) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(200_000)
    assert "limit is 100,000 bytes" in error_of(
        client.post("/api/predict", content=big, headers=PNG), 413
    )
    chunks = (bytes(10_000) for _ in range(20))  # no Content-Length: caught while reading
    error_of(client.post("/api/predict", content=chunks, headers=PNG), 413)
    error_of(client.post("/api/predict", files={"image": ("big.png", big, "image/png")}), 413)


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},
        {"content-type": "application/json"},
        {"content-type": "image/svg+xml"},
        {},
    ],
)
def test_wrong_content_type_is_415(
    client: TestClient, seven_png: bytes, headers: dict[str, str]
) -> None:
    assert "send an image" in error_of(
        client.post("/api/predict", content=seven_png, headers=headers), 415
    )


def test_uploaded_file_of_wrong_type_is_415(client: TestClient) -> None:
    message = error_of(
        client.post("/api/predict", files={"image": ("notes.txt", b"hi", "text/plain")}), 415
    )
    assert "notes.txt" in message and "text/plain" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"this is not an image at all", "not a PNG, JPEG"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "image data (72 bytes)"),  # named by preprocess
        (b"", "holds no image"),
        (bytes(range(256)) * 4, "not a PNG, JPEG"),
    ],
)
def test_garbage_bytes_are_400(client: TestClient, body: bytes, expected: str) -> None:
    assert expected in error_of(client.post("/api/predict", content=body, headers=PNG), 400)


def test_truncated_and_malformed_uploads_are_400(client: TestClient, seven_png: bytes) -> None:
    error_of(client.post("/api/predict", content=seven_png[:40], headers=PNG), 400)
    form = {"content-type": "multipart/form-data; boundary=xyz"}
    error_of(client.post("/api/predict", content=b"--xyz\r\ngarbage", headers=form), 400)
    error_of(
        client.post(
            "/api/predict", content=b"--xyz", headers={"content-type": "multipart/form-data"}
        ),
        400,
    )
    fields_only = b'--xyz\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--xyz--\r\n'
    assert "holds no file" in error_of(
        client.post("/api/predict", content=fields_only, headers=form), 400
    )
    error_of(client.post("/api/predict", data={"x": "1"}), 415)  # urlencoded: not an image


def test_too_many_pixels_is_400(web_run: Path) -> None:
    small = TestClient(create_app(web_run, max_pixels=10_000))
    image = png_bytes(np.zeros((200, 200), np.uint8))
    assert "too large" in error_of(small.post("/api/predict", content=image, headers=PNG), 400)


@pytest.mark.parametrize("size", [28, 280])
def test_blank_canvas_is_400(client: TestClient, size: int) -> None:
    blank = png_bytes(np.zeros((size, size), np.uint8))
    assert "holds no digit" in error_of(
        client.post("/api/predict", content=blank, headers=PNG), 400
    )
    white = png_bytes(np.full((size, size), 255, np.uint8))
    assert "holds no digit" in error_of(
        client.post("/api/predict", content=white, headers=PNG), 400
    )


@pytest.mark.parametrize(
    "path",
    [
        "/static/..%2fapp.py",
        "/static/%2e%2e/app.py",
        "/static/%2e%2e%2fapp.py",
        "/static/..%2f..%2ffiles.py",
        "/static/%2e%2e/%2e%2e/files.py",
        "/static/..%5capp.py",
        "/static/%2fetc%2fpasswd",
        "/static//etc/passwd",
    ],
)
def test_static_paths_cannot_escape_their_folder(client: TestClient, path: str) -> None:
    error_of(client.get(path), 404)


@pytest.mark.parametrize(
    "raw", ["/static/../__init__.py", "/static/../../files.py", "/static/./../__init__.py"]
)
def test_unnormalised_dot_dot_paths_are_404(web_run: Path, raw: str) -> None:
    """Sent as they are (an HTTP client would normalise ``..``), straight to the ASGI app."""
    assert (STATIC_DIR / raw.removeprefix("/static/")).resolve().is_file()  # the file exists
    status, body = call_asgi(create_app(web_run), raw)
    assert status == 404 and "error" in json.loads(body) and b"import" not in body


def call_asgi(app: Any, path: str) -> tuple[int, bytes]:
    """GET ``path`` from an ASGI app with the path unaltered; (status, body)."""
    import anyio

    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_static_files_are_served(client: TestClient) -> None:
    for name in ("app.js", "style.css", "index.html"):
        assert client.get(f"/static/{name}").content == (STATIC_DIR / name).read_bytes()
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_page_needs_nothing_from_the_internet() -> None:
    for path in STATIC_DIR.iterdir():
        urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", path.read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, (path.name, urls)


def test_unknown_routes_and_methods_are_json(client: TestClient) -> None:
    error_of(client.get("/nope"), 404)
    error_of(client.get("/api/predict"), 405)
    error_of(client.delete("/api/info"), 405)


def test_a_bug_is_a_json_500_without_traceback(
    web_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api, "predict_bytes", broken)
    client = TestClient(create_app(web_run), raise_server_exceptions=False)
    response = client.post("/api/predict", content=b"\x89PNG\r\n\x1a\n", headers=PNG)
    assert "internal error" in error_of(response, 500) and "secret" not in response.text


def test_host_guard_stops_dns_rebinding(web_run: Path) -> None:
    local = TestClient(create_app(web_run, allowed_hosts=["127.0.0.1", "localhost"]))
    assert local.get("/api/info", headers={"host": "127.0.0.1:8000"}).status_code == 200
    assert "not served here" in error_of(
        local.get("/api/info", headers={"host": "evil.example"}), 400
    )


def test_missing_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such run folder"):
        create_app(tmp_path / "nothing")
    with pytest.raises(ValueError, match="max_body"):
        create_app(tmp_path, max_body=0)


# --- helpers ----------------------------------------------------------------------------


def test_small_helpers() -> None:
    assert images.sniff_format(b"\x89PNG\r\n\x1a\nxxxx") == "PNG"
    assert images.sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert images.sniff_format(b"%!PS-Adobe-3.0 EPSF") is None  # EPS would run Ghostscript
    assert media_type("Image/PNG; charset=binary") == "image/png" and media_type(None) == ""
    assert host_name("[::1]:8000") == "[::1]" and host_name("LocalHost:80") == "localhost"
    assert images.finite({"a": [float("inf"), 1.5], "b": (float("nan"),)}) == {
        "a": [None, 1.5],
        "b": [None],
    }
    assert images.png_base64(torch.zeros(28, 28, dtype=torch.uint8))


# --- mnist-sgd serve ----------------------------------------------------------------------


def test_serve_needs_the_web_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from mnist_sgd import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    assert cli.main(["serve", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "uvicorn" in err and "pip install 'mnist-sgd[web]'" in err


def test_serve_reports_a_missing_run_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnist_sgd import cli

    assert cli.main(["serve", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run folder" in err


@pytest.mark.parametrize(
    ("host", "warned"), [("127.0.0.1", False), ("localhost", False), ("0.0.0.0", True)]
)
def test_serve_warns_off_loopback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host: str,
    warned: bool,
) -> None:
    import uvicorn

    from mnist_sgd import cli

    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served.extend(sockets))
    folder = fake_run(tmp_path / "run", "linear", ["3", "7"], [])
    assert cli.main(["serve", str(folder), "--host", host, "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert ("warning: listening on 0.0.0.0, not loopback" in err) is warned
    port = served[0].getsockname()[1]
    assert f":{port}/" in err and port > 0
    served[0].close()


def test_serve_says_when_the_port_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from mnist_sgd import cli

    folder = fake_run(tmp_path / "run", "linear", ["3", "7"], [])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", str(folder), "--port", str(port)]) == 1
    assert "choose another --port" in capsys.readouterr().err


def test_serve_runs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The real command in a subprocess: serves the API, exits 0 on SIGINT."""
    import signal
    import subprocess
    import sys

    import httpx

    folder = fake_run(tmp_path / "run", "linear", ["3", "7"], [])
    command = [sys.executable, "-m", "mnist_sgd", "serve", str(folder), "--port", "0"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as server:
        try:
            line = server.stderr.readline() if server.stderr else ""
            url = re.search(r"http://\S+/", line)
            assert url, line
            assert (
                httpx.get(url.group(0) + "api/info", timeout=30).json()["dataset"] == "mnist_sample"
            )
            refused = httpx.get(
                url.group(0) + "api/info", headers={"host": "evil.example"}, timeout=30
            )
            assert refused.status_code == 400
        finally:
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=30) == 0

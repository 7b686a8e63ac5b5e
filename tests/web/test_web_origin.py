"""Only the server's own pages may change anything (issue 29, 9 and 10).

Before: ``POST /api/train/ID/pause|resume|step|stop`` took a form or ``text/plain``
POST from any other site (202, and it took effect), and ``studio --host 0.0.0.0``
turned the ``Host`` check off: ``Host: evil.example`` started a training and
wrote a run folder. Now such requests are refused, and a server bound beyond
loopback asks for the token it prints at start-up.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient
from test_studio_api import LONG, make_app, start, wait_for

ROOT = Path(__file__).resolve().parents[2]
FOREIGN = [
    {"content-type": "text/plain"},
    {"content-type": "application/x-www-form-urlencoded"},
    {"content-type": "multipart/form-data; boundary=x"},
    {},  # a no-cors fetch with no body
    {"content-type": "application/json", "origin": "http://evil.example"},
    {"x-requested-with": "x", "origin": "null"},
]


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, sample_cache: Path
) -> Iterator[TestClient]:
    app = make_app(tmp_path_factory.mktemp("origin"), shared_data, sample_cache)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("action", ["pause", "stop"])
def test_another_site_cannot_steer_a_training(studio: TestClient, action: str) -> None:
    tid = start(studio, **LONG)
    wait_for(studio, tid, lambda s: s["iter"] > 0)
    for headers in FOREIGN:
        refused = studio.post(f"/api/train/{tid}/{action}", headers=headers, content=b"a=1")
        assert refused.status_code == 403, (headers, refused.text)
        assert "\n" not in refused.json()["error"]
    assert studio.get(f"/api/train/{tid}").json()["state"] == "running"
    own = {"x-requested-with": "mnist-sgd", "origin": "http://testserver"}
    assert studio.post(f"/api/train/{tid}/{action}", headers=own).status_code == 202
    studio.post(f"/api/train/{tid}/stop", headers=own)


def test_another_site_cannot_start_a_training(studio: TestClient) -> None:
    before = [t["id"] for t in studio.get("/api/train").json()]
    for headers in FOREIGN:
        refused = studio.post("/api/train", headers=headers, content=b'{"epochs": 1}')
        assert refused.status_code == 403, (headers, refused.text)
    assert [t["id"] for t in studio.get("/api/train").json()] == before


def test_a_token_is_asked_for_before_anything_changes(
    tmp_path: Path, shared_data: Path, sample_cache: Path
) -> None:
    app = make_app(tmp_path, shared_data, sample_cache, token="s3cret")
    with TestClient(app) as client:
        refused = client.post("/api/train", json={"epochs": 1})
        assert refused.status_code == 401 and "token" in refused.json()["error"]
        wrong = client.post(
            "/api/train", json={"epochs": 1}, headers={"cookie": "mnist_sgd_token=x"}
        )
        assert wrong.status_code == 401
        assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
        assert client.get("/api/train").status_code == 200  # reading needs no token
        page = client.get("/?token=s3cret")
        assert "SameSite=Strict" in page.headers["set-cookie"]
        tid = start(client, epochs=1)  # the cookie the page set
        wait_for(client, tid, lambda s: s["state"] == "done")


def raw(port: int, host: str, path: str = "/api/train", extra: str = "") -> bytes:
    body = b'{"epochs": 1}'
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_a_studio_beyond_loopback_checks_host_and_asks_for_its_token(
    tmp_path: Path, shared_data: Path, sample_cache: Path
) -> None:
    runs_dir = tmp_path / "runs"
    data = ["--mirror", str(shared_data), "--cache-dir", str(sample_cache), "--offline"]
    command = [sys.executable, "-m", "mnist_sgd", "studio", "--host", "0.0.0.0", "--port", "0",
               "--no-browser", "--device", "cpu", "--runs-dir", str(runs_dir), *data]  # fmt: skip
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ}
    )
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline(), process.stderr.readline()]
        match = re.search(r":(\d+)/\?token=([\w-]+) ", "".join(lines))
        assert match, lines
        port, token = int(match.group(1)), match.group(2)
        foreign = raw(port, "evil.example")
        assert foreign.startswith(b"HTTP/1.1 400") and b"not served here" in foreign, foreign
        no_token = raw(port, f"127.0.0.1:{port}")
        assert no_token.startswith(b"HTTP/1.1 401"), no_token
        assert not runs_dir.exists() or not list(runs_dir.iterdir())
        ok = raw(port, f"127.0.0.1:{port}", extra=f"Cookie: mnist_sgd_token={token}\r\n")
        assert ok.startswith(b"HTTP/1.1 202"), ok
    finally:
        process.terminate()
        process.wait(timeout=60)

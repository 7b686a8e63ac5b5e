"""``mnist-sgd studio`` as a real process: serves the page, trains, Ctrl-C leaves a checkpoint."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the web extra is not installed: pip install 'mnist-sgd[web]'"
)

from mnist_sgd import runs


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


def post_json(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        return dict(json.loads(response.read()))


def test_studio_serves_trains_and_stops_on_ctrl_c(
    tmp_path: Path, shared_data: Path, sample_cache: Path
) -> None:
    command = [sys.executable, "-m", "mnist_sgd", "studio", "--no-browser", "--port", "0"]
    command += ["--runs-dir", str(tmp_path / "runs"), "--device", "cpu"]
    command += ["--mirror", str(shared_data), "--cache-dir", str(sample_cache), "--offline"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        url = found.group(0)
        status, page = get(url)
        assert status == 200 and b"studio.js" in page
        started = post_json(f"{url}api/train", {"epochs": 500})
        deadline = time.monotonic() + 120
        while json.loads(get(f"{url}api/train/{started['id']}")[1])["iter"] < 3:
            assert time.monotonic() < deadline, "the training did not start"
            time.sleep(0.1)
        watcher = urllib.request.urlopen(f"{url}api/train/{started['id']}/events", timeout=60)
        watcher.readline()  # an open page: its event stream must not hold up Ctrl-C
        server.send_signal(signal.SIGINT)
        _, rest = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    watcher.close()
    assert server.returncode == 0, rest
    assert "mnist-sgd train --resume" in rest and "Traceback" not in rest
    run_dir = Path(str(started["run_dir"]))
    assert runs.read_run_info(run_dir)["status"] == "interrupted"
    assert runs.resume_point(run_dir)[1] is not None


def test_studio_refuses_a_bad_port() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mnist_sgd", "studio", "--no-browser", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "must be a port number" in done.stderr and "Traceback" not in done.stderr

"""``mnist-sgd notebook``: the walkthrough copied out of the package, JupyterLab started on it."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

import pytest

from mnist_sgd.cli import main
from mnist_sgd.cli import notebook as notebook_command
from mnist_sgd.cli.notebook import MISSING, WALKTHROUGH, WALKTHROUGHS, copy_walkthrough, lab_command

TOKEN = "mnist-sgd-test-token"


def test_the_walkthrough_is_copied_once_and_a_copy_there_is_kept(tmp_path: Path) -> None:
    notebook = copy_walkthrough(tmp_path / "here")
    assert notebook == tmp_path / "here" / WALKTHROUGH
    assert json.loads(notebook.read_text(encoding="utf-8"))["nbformat"] == 4
    notebook.write_text("my edits", encoding="utf-8")
    assert copy_walkthrough(tmp_path / "here").read_text(encoding="utf-8") == "my edits"


def test_lang_ko_copies_the_korean_walkthrough_beside_the_english_one(tmp_path: Path) -> None:
    korean = copy_walkthrough(tmp_path, "ko")
    assert korean == tmp_path / WALKTHROUGHS["ko"] == tmp_path / "seed_walkthrough.ko.ipynb"
    text = korean.read_text(encoding="utf-8")
    assert json.loads(text)["nbformat"] == 4 and "## Sigmoid — 시그모이드" in text
    assert copy_walkthrough(tmp_path) == tmp_path / WALKTHROUGH  # both live in one folder


class FakeLab:
    """Stands in for the JupyterLab process: records its command, exits at once."""

    commands: ClassVar[list[list[str]]] = []

    def __init__(self, command: list[str]) -> None:
        self.commands.append(command)

    def wait(self) -> int:
        return 0

    def poll(self) -> int:
        return 0


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_command_opens_the_walkthrough_in_the_language_asked(
    lang: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(notebook_command.subprocess, "Popen", FakeLab)
    FakeLab.commands.clear()
    argv = ["notebook", "--dir", str(tmp_path), "--no-browser"]
    assert main([*argv, "--lang", lang] if lang == "ko" else argv) == 0
    opened = tmp_path / WALKTHROUGHS[lang]
    assert FakeLab.commands[0][-1] == str(opened) and opened.is_file()
    assert f"opening {opened} in JupyterLab" in capsys.readouterr().err


def test_an_unknown_language_is_one_line_naming_the_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notebook", "--dir", str(tmp_path), "--lang", "fr"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'fr' (choose from 'en', 'ko')" in err
    assert not list(tmp_path.iterdir())  # nothing copied


def test_jupyter_lab_is_started_in_this_environment_on_the_notebook(tmp_path: Path) -> None:
    command = lab_command(tmp_path / WALKTHROUGH, 8899, True, ["--", "--ServerApp.ip=0.0.0.0"])
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path}" in command and "--port=8899" in command
    assert "--no-browser" in command and "--ServerApp.ip=0.0.0.0" in command and "--" not in command
    assert command[-1] == str(tmp_path / WALKTHROUGH)


def test_without_jupyterlab_one_line_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert main(["notebook", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"mnist-sgd: error: {MISSING}\n" and "pip install 'mnist-sgd[notebook]'" in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def contents(port: int, deadline: float) -> dict[str, object]:
    """The walkthrough as JupyterLab's contents API serves it, once the server answers."""
    url = f"http://127.0.0.1:{port}/api/contents/{WALKTHROUGH}?token={TOKEN}"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.load(answer)
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="no [notebook] extra")
def test_the_command_starts_jupyterlab_which_answers_and_stops(tmp_path: Path) -> None:
    port, jupyter = free_port(), tmp_path / "jupyter"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "run"),
    }
    argv = ["notebook", "--dir", str(tmp_path / "work"), "--no-browser", "--port", str(port)]
    argv += ["--", f"--IdentityProvider.token={TOKEN}", "--ServerApp.ip=127.0.0.1"]
    argv += ["--allow-root"] if os.geteuid() == 0 else []  # a CI container runs as root
    server = subprocess.Popen(
        [sys.executable, "-m", "mnist_sgd", *argv],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        served = contents(port, time.monotonic() + 120)
        assert served["name"] == WALKTHROUGH and served["type"] == "notebook"
    finally:
        server.send_signal(signal.SIGTERM)
        log, _ = server.communicate(timeout=60)
    assert server.returncode == 130, log
    assert "opening" in log and (tmp_path / "work" / WALKTHROUGH).is_file()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # nothing listens any more: the server stopped with the command

"""Ctrl-C and SIGTERM in a command's first seconds (issue 29, 3).

Before: a signal while torch was being imported (the first ~3.5 s of any command) gave a
``KeyboardInterrupt`` traceback for SIGINT and a silent rc -15 for SIGTERM. Real processes,
signalled at a real moment: once torch's library is mapped into the process (read from
``/proc/PID/maps``), well before the command itself runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
ROOT = Path(__file__).resolve().parents[2]


def importing_torch(pid: int) -> bool:
    try:
        return "torch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_signal_while_torch_is_imported_is_one_line_and_130(
    sig: signal.Signals, command: str, tmp_path: Path
) -> None:
    argv = {
        "train": ["train", "--dry-run", "--out", str(tmp_path / "run")],
        "evaluate": ["evaluate", str(tmp_path)],
    }[command]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # torch is imported
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_sgd", *argv],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not importing_torch(process.pid) and process.poll() is None:
        assert time.monotonic() < deadline, "torch never imported"
        time.sleep(0.001)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, (process.returncode, err)
    assert err == "mnist-sgd: interrupted\n", err
    assert not (tmp_path / "run").exists()

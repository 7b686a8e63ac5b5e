"""A fork server that runs ``mnist-sgd train`` in child processes for the SIGKILL test.

Not a test module (pytest collects only ``test_*.py``). ``tests/test_files.py``
starts it once: it imports torch and mnist-sgd (seconds), then forks one child
per training run (milliseconds), so twenty kills cost twenty forks, not
twenty interpreter starts. The library is not changed: the child swaps the
``os`` that ``mnist_sgd.files`` sees for a proxy that can pause at a chosen
atomic write, and replaces the CLI's dataset loader by a small subset.

Protocol, one JSON object a line. stdin: ``{"argv": [...], "pause": null |
{"phase": "before-fsync" | "before-rename" | "after-rename", "index": j}}``.
stdout: ``READY``; per run ``CHILD pid``, the child's events ``BATCH n`` and
``WRITE j name`` and ``PAUSED phase j name``, then ``EXIT pid code`` (a
negative code is the signal that ended it).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import mnist_sgd.cli.train as cli_train
from mnist_sgd import cli, files, runs


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class PausingOs:
    """``os`` for ``mnist_sgd.files``: reports each atomic write and can stop at one of them."""

    def __init__(self, pause: dict[str, Any] | None) -> None:
        self.pause, self.writes = pause, 1  # so "index" j reads as "the j-th write"

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _maybe_pause(self, phase: str, name: str) -> None:
        if self.pause and self.pause["phase"] == phase and self.pause["index"] == self.writes:
            say(f"PAUSED {phase} {self.writes} {name}")
            time.sleep(600)  # the test kills us here

    def fsync(self, fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # the temp file, written but not yet durable
            self._maybe_pause("before-fsync", "temp-file")
        os.fsync(fd)

    def replace(self, src: Any, dst: Any) -> None:
        name = Path(dst).name
        self._maybe_pause("before-rename", name)
        os.replace(src, dst)
        say(f"WRITE {self.writes} {name}")
        self._maybe_pause("after-rename", name)
        self.writes += 1


def load_subset(path: str) -> Any:
    """The ``MnistData`` subset the test saved as safetensors."""
    from safetensors.torch import load_file

    from mnist_sgd.datasets import MnistData

    tensors = load_file(path)
    names = ("train_images", "train_labels", "valid_images", "valid_labels")
    return MnistData("mnist_sample", ("3", "7"), *(tensors[k] for k in names))


def child(request: dict[str, Any], data_file: str) -> int:
    """Run one ``mnist-sgd`` command with the pausing ``os`` and batch events."""
    proxy = PausingOs(request.get("pause"))
    files.os = proxy  # type: ignore[assignment]
    data = load_subset(data_file)
    cli_train.load_data = lambda name, args, resumed=None: data  # type: ignore[assignment]
    original = runs.StopOnRequest.after_batch

    def after_batch(self: runs.StopOnRequest, learn: Any) -> None:
        say(f"BATCH {learn.epoch} {learn.iter}")
        original(self, learn)

    runs.StopOnRequest.after_batch = after_batch  # type: ignore[method-assign]
    return cli.main(request["argv"])


def serve(data_file: str) -> None:
    say("READY")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = child(request, data_file)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        say(f"CHILD {pid}")
        _, status = os.waitpid(pid, 0)
        say(f"EXIT {pid} {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    serve(sys.argv[1])

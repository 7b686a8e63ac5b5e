"""A class's own handwriting (``mnist-sgd serve RUN --collect DIR``): drawings saved as PNGs.

Each saved drawing is the 28x28 picture the model saw (the page's preprocessing, as
``mnist-sgd predict``), written to ``DIR/<label>/<time>-<n>.png``: a class-folder dataset
that ``mnist-sgd evaluate RUN --dataset DIR`` scores and ``train --init-from RUN --dataset
DIR`` fine-tunes on. A file is written whole under a temporary name, then linked to its
final name, which fails rather than replace another file; the folder holds at most
``max_files`` PNGs and ``max_bytes`` bytes; the label must be one of the run's classes.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnist_sgd.errors import MnistSgdError
from mnist_sgd.files import write_new

MAX_FILES = 2_000
MAX_BYTES = 20 * 1024 * 1024


class CollectError(MnistSgdError):
    """A drawing that cannot be saved: a label outside the classes, a full folder."""


@dataclass
class Collector:
    """Saves drawings into ``folder/<label>/``, at most ``max_files`` files and ``max_bytes``."""

    folder: Path
    classes: list[str]
    max_files: int = MAX_FILES
    max_bytes: int = MAX_BYTES
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _counter: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def add(self, label: str, png: bytes, classes: list[str] | None = None) -> Path:
        """Write ``png`` as a new file in ``folder/<label>/``; the path written.

        ``classes``: the classes the label must be one of, when not the collector's own (the
        studio's trainings each have theirs; one collector keeps one quota for all).
        """
        classes = self.classes if classes is None else classes
        if label not in classes:
            raise CollectError(f"label {label!r} is not one of the run's classes: {classes}")
        with self._lock:  # one writer at a time: the quota is checked and used at once
            files, size = self.usage()
            if files >= self.max_files or size + len(png) > self.max_bytes:
                raise CollectError(
                    f"{self.folder} is full ({files} files, {size} bytes; at most "
                    f"{self.max_files} files, {self.max_bytes} bytes): move them or use another DIR"
                )
            return self._write_new(self.folder / label, png)

    def usage(self) -> tuple[int, int]:
        """``(files, bytes)`` of the PNGs now in the class folders."""
        sizes = [p.stat().st_size for p in self.folder.glob("*/*.png") if p.is_file()]
        return len(sizes), sum(sizes)

    def _write_new(self, folder: Path, data: bytes) -> Path:
        stamps = (f"{time.strftime('%Y%m%d-%H%M%S')}-{n}.png" for n in self._counter)
        return write_new(folder, data, stamps)  # never over another file

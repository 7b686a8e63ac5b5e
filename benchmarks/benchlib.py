"""Helpers shared by the benchmark scripts (issue 6): result rows with goals, data, subprocesses.

A benchmark reports ``Row``s: a figure (usually a ratio of two times measured
in the same run), the goal it is held to, and a line of context. Scripts are
loaded by path (``load_script``): ``benchmarks/`` is not a package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mnist_sgd.cli import user_tunes_malloc
from mnist_sgd.config.memory import keep_freed_memory

if not user_tunes_malloc(os.environ):  # as the CLI does: a step reuses the last one's pages
    keep_freed_memory()

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SHARED_DATA = Path(os.environ.get("MNIST_SGD_SHARED_DATA", REPO.parent / "shared" / "data"))
PEER_PYTHON = Path(os.environ.get("MNIST_SGD_PEER_PYTHON", "/work/peer-venv/bin/python"))
PEER_SETUP = "sh benchmarks/peers/setup.sh (a venv at /work/peer-venv: torch, torchvision, fastai)"
WORK_DIR = Path(tempfile.gettempdir()) / "mnist-sgd-bench"  # kept between runs: a warm cache


@dataclass
class Row:
    """One reported figure.

    Attributes:
        name: what is compared, e.g. ``"linear: Learner.fit / bare loop"``.
        value: the figure (None when skipped).
        unit: ``"x"`` (a ratio), ``"s"``, ``"GiB"``, ``"acc"``.
        goal: ``("<=", 1.2)``, ``(">=", 5.0)``, or None for context.
        detail: the measurements behind the figure.
        skipped: why it was not measured (with what to do), else None.
        error: what went wrong when the benchmark itself failed, else None.
    """

    name: str
    value: float | None
    unit: str = "x"
    goal: tuple[str, float] | None = None
    detail: str = ""
    skipped: str | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """``pass``/``miss`` against the goal, ``skip``, ``error``, or ``info`` (no goal)."""
        if self.error is not None:
            return "error"
        if self.skipped is not None:
            return "skip"
        if self.goal is None:
            return "info"
        if self.value is None:
            return "skip"
        op, limit = self.goal
        ok = self.value <= limit if op == "<=" else self.value >= limit
        return "pass" if ok else "miss"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass(frozen=True)
class Plan:
    """How much a benchmark runs: full (the figures for RESULTS.md), ``--quick``, ``--dry-run``.

    Attributes:
        quick, dry_run: the mode (a dry run does the least that shows it works).
        epochs, rounds: epochs per timed fit, interleaved rounds (the fastest counts).
        subset: train items to use (a dry run), None for all.
        peers: start the peer processes (fastai); False in a dry run.
        e2e_repeat: timed runs of each end-to-end command.
        rss_recipe: the recipe trained (one epoch) on full MNIST for the peak RSS.
    """

    quick: bool = False
    dry_run: bool = False
    epochs: int = 5
    rounds: int = 5
    subset: int | None = None
    peers: bool = True
    e2e_repeat: int = 3
    rss_recipe: str = "mnist-fast"

    @classmethod
    def make(cls, quick: bool = False, dry_run: bool = False) -> Plan:
        if dry_run:
            return cls(
                quick,
                True,
                epochs=1,
                rounds=1,
                subset=512,
                peers=False,
                e2e_repeat=1,
                rss_recipe="mnist-linear",
            )
        if quick:
            return cls(True, False, epochs=3, rounds=3, e2e_repeat=1, rss_recipe="mnist-linear")
        return cls()


def skipped(name: str, why: str, goal: tuple[str, float] | None = None, unit: str = "x") -> Row:
    """A row that was not measured, saying why."""
    return Row(name, None, unit=unit, goal=goal, skipped=why)


def load_script(path: Path) -> ModuleType:
    """Import a benchmark script by path (``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_DATA: Any = None  # the DataOptions of the 'mnist-sgd bench' command line (use_data)


def use_data(options: Any) -> None:
    """Read every dataset through ``options`` (the user's cache, mirror and --data-path)."""
    global _DATA
    _DATA = options


def data_options(cache_dir: Path | None = None) -> Any:
    """The user's ``DataOptions``, as every command has them (``cache_dir`` replaces the cache).

    From ``mnist-sgd bench``'s flags (:func:`use_data`); a script run alone reads
    ``MNIST_SGD_CACHE`` and ``MNIST_SGD_MIRROR`` as the command line does.
    """
    from dataclasses import replace

    from mnist_sgd.datasets import DataOptions

    options = _DATA or DataOptions(
        cache_dir=Path(os.environ["MNIST_SGD_CACHE"])
        if os.environ.get("MNIST_SGD_CACHE")
        else None,
        mirror=os.environ.get("MNIST_SGD_MIRROR") or None,
    )
    return options if cache_dir is None else replace(options, cache_dir=cache_dir)


def data_flags() -> list[str]:
    """:func:`data_options` as ``mnist-sgd`` flags, for the commands a benchmark starts."""
    options = data_options()
    flags = ["--cache-dir", str(options.resolved_cache_dir())]
    if options.path is not None:
        flags += ["--data-path", str(options.path)]
    if options.mirror:
        flags += ["--mirror", str(options.mirror)]
    return [*flags, "--offline"] if options.offline else flags


def load(name: str = "mnist_sample") -> Any:
    """``MnistData`` for ``name`` through ``load_dataset`` (cached after the first call)."""
    from mnist_sgd.datasets import load_dataset

    return load_dataset(name, data_options())


def png_folder(name: str = "mnist_sample") -> Path:
    """The dataset's PNG folders (the book's ``path``), unpacked once into the user's cache."""
    from mnist_sgd.datasets import fetch

    return fetch(name, data_options(), extract=True)


def run_json(command: Sequence[str], timeout: float = 600) -> dict[str, Any]:
    """Run a command that prints one JSON object on its last stdout line; return it."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{Path(command[1]).name} failed ({done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def wall_time(
    command: Sequence[str], timeout: float = 600, env: dict[str, str] | None = None
) -> float:
    """Seconds a subprocess takes from start to exit; a RuntimeError if it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=None if env is None else {**os.environ, **env},
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{' '.join(command[:4])} ... failed ({done.returncode}): {tail}")
    return seconds


PEAK_RSS_WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if done.returncode:
    sys.stderr.write(done.stderr.decode()[-400:])
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
print(-1 if done.returncode else peak_kib * 1024)
"""


def peak_rss_gib(command: Sequence[str], timeout: float = 600) -> float:
    """Peak resident memory of a subprocess, in GiB (``getrusage`` in a fresh wrapper process)."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_WRAPPER, *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    value = int(done.stdout.strip() or -1)
    if value < 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed: {done.stderr.strip()[-300:]}")
    return value / 2**30


def mnist_sgd_command() -> list[str]:
    """How to run the ``mnist-sgd`` CLI of this interpreter (the console script if installed)."""
    script = Path(sys.executable).parent / "mnist-sgd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mnist_sgd"]


def min_of(fn: Callable[[], float], repeat: int) -> float:
    """The smallest of ``repeat`` measurements (the least disturbed on a busy machine)."""
    return min(fn() for _ in range(max(repeat, 1)))


def versions() -> dict[str, str]:
    """torch and Python versions of this process."""
    import platform

    import torch

    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": str(torch.get_num_threads()),
    }


def format_value(value: float | None, unit: str) -> str:
    """``0.92x``, ``1.73 s``, ``0.31 GiB``; ``-`` when not measured."""
    if value is None:
        return "-"
    if unit == "x":  # three decimals: 4.996x must not read as 5.00x next to a goal of 5
        return f"{value:.3f}x" if value < 10 else f"{value:.1f}x"
    if unit == "us":
        return f"{value:.0f} us"
    if unit == "":
        return f"{value:.3f}"
    return f"{value:.3g} {unit}"


def format_rows(rows: Sequence[Row]) -> str:
    """A table, one row per figure, its detail (or why it was skipped) indented below."""
    width = max((len(r.name) for r in rows), default=10) + 2
    lines = [f"{'benchmark':<{width}}{'value':>10}  {'goal':<12}status"]
    for r in rows:
        goal = "" if r.goal is None else f"{r.goal[0]} {format_value(r.goal[1], r.unit)}"
        lines.append(f"{r.name:<{width}}{format_value(r.value, r.unit):>10}  {goal:<12}{r.status}")
        note = r.error or r.skipped or r.detail
        if note:
            lines.append(f"    {note}")
    return "\n".join(lines)


def print_facts(facts: dict[str, Any], as_json: bool = False) -> None:
    """Print a dict of figures as ``key: value`` lines, or as one JSON object (``--json``)."""
    if as_json:
        print(json.dumps(facts))
    else:
        for key, value in facts.items():
            print(f"{key}: {value}")


def print_rows(rows: Sequence[Row], as_json: bool = False) -> None:
    """Print rows as a table, or as a JSON list (``--json``)."""
    print(json.dumps([r.to_dict() for r in rows], indent=1) if as_json else format_rows(rows))


RESULTS = BENCH_DIR / "RESULTS.md"


def replace_section(text: str, heading: str, body: str) -> str:
    """``text`` with the section under ``heading`` replaced by ``body`` (appended if absent).

    A section runs to the next heading of the same or a higher level; the
    other sections are kept as they are.
    """
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    new = [heading, "", *body.strip("\n").splitlines(), ""]
    if heading not in lines:
        return "\n".join([*lines, "", *new]).strip("\n") + "\n"
    start = lines.index(heading)
    end = start + 1
    while end < len(lines):
        hashes = len(lines[end]) - len(lines[end].lstrip("#"))
        if 0 < hashes <= level and lines[end][hashes : hashes + 1] == " ":
            break
        end += 1
    return "\n".join([*lines[:start], *new, *lines[end:]]).rstrip("\n") + "\n"


def write_section(heading: str, body: str, path: Path = RESULTS) -> None:
    """Write one section of RESULTS.md, re-reading the file just before (others write theirs)."""
    from mnist_sgd.files import atomic_write_text

    text = path.read_text() if path.exists() else "# Benchmark results\n"
    atomic_write_text(path, replace_section(text, heading, body))


def markdown_rows(rows: Sequence[Row]) -> str:
    """Rows as a Markdown table: figure, value, goal, status, detail."""
    lines = ["| figure | value | goal | status | measured |", "| --- | ---: | --- | --- | --- |"]
    for r in rows:
        goal = "" if r.goal is None else f"{r.goal[0]} {format_value(r.goal[1], r.unit)}"
        note = (r.error or r.skipped or r.detail).replace("|", "/")
        lines.append(
            f"| {r.name} | {format_value(r.value, r.unit)} | {goal} | {r.status} | {note} |"
        )
    return "\n".join(lines)

"""Precision and threads chosen by measuring this machine: a probe of a few training steps.

Not in the book. Whether bf16 autocast (``callbacks.precision``) is faster than float32
depends on the CPU: AMD's and Intel's with ``avx512_bf16`` or AMX have bf16 units, while
other AVX-512 CPUs emulate it and were measured 2-3x slower (issue 30). How many threads
pay depends on the machine too. So the model at hand takes a few steps at each candidate
(thread count, float32 or bf16), interleaved in rounds so a burst of other work hits all
alike, and the medians decide: something other than the simplest candidate (the first
thread count, float32) only when it is at least ``MARGIN`` faster; bf16 with the CPU's bf16
flags needs only to be faster. The answer is kept per machine and model in the cache folder
(``<cache>/speed/<machine>.json``), so it is paid once; a choice given by the user is
never probed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnist_sgd.callbacks.precision import autocast_forward
from mnist_sgd.files import atomic_write_text

MARGIN = 0.10  # how much faster a less simple choice must be (the probe's noise is below it)
ROUNDS = 5  # interleaved rounds; each candidate's median over them decides
STEPS = 2  # timed steps per candidate and round

Candidate = tuple[int, bool]  # (threads, bf16)


@dataclass(frozen=True)
class Speed:
    """How training runs here: ``threads`` torch threads, bf16 autocast or float32, and why.

    ``step_ms``: the probe's median ms per step for each candidate (``"1 float32"``);
    ``seconds``: what the probe cost (0 when the answer came from the cache or the user).
    """

    bf16: bool
    threads: int
    why: str
    seconds: float = 0.0
    step_ms: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        """One line for a person: ``precision: bf16, 1 thread (probe: ...)``."""
        threads = f"{self.threads} thread" + ("s" if self.threads != 1 else "")
        return f"precision: {'bf16' if self.bf16 else 'float32'}, {threads} ({self.why})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (``avx512_bf16``, ``amx_bf16``, ...); empty where unknown."""
    try:
        for text in cpuinfo.read_text().splitlines():
            if text.startswith(("flags", "Features")):
                return set(text.partition(":")[2].split())
    except OSError:
        pass
    return set()


def native_bf16(flags: set[str]) -> bool:
    """True where the CPU has bf16 units (``avx512_bf16`` or AMX), not oneDNN's emulation."""
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def label(candidate: Candidate) -> str:
    threads, bf16 = candidate
    return f"{threads} {'bf16' if bf16 else 'float32'}"


def pick(step_ms: dict[str, float], candidates: Sequence[Candidate], native: bool) -> Candidate:
    """The simplest candidate unless another is clearly faster: ``MARGIN`` less time (any
    less for bf16 on a CPU with bf16 units, against the same thread count in float32)."""
    chosen = candidates[0]
    for candidate in candidates[1:]:
        margin = 0.0 if native and candidate[1] and candidate[0] == chosen[0] else MARGIN
        if step_ms[label(candidate)] * (1 + margin) < step_ms[label(chosen)]:
            chosen = candidate
    return chosen


def probe(
    make_model: Callable[[], nn.Module], xb: torch.Tensor, candidates: Sequence[Candidate]
) -> dict[str, float]:
    """Median ms per training step of ``make_model()`` on ``xb`` for each candidate.

    ``xb``: one batch of model input, ``(bs, 784)`` or ``(bs, 1, 28, 28)`` float32. A step is
    the Learner's: forward (under bf16 autocast for bf16), a float32 loss, backward, an SGD
    update. Each candidate has its own model, warmed by one untimed step (oneDNN builds its
    kernels then); torch's thread count is set back afterwards.
    """
    models = {c: make_model() for c in candidates}
    before = torch.get_num_threads()
    times: dict[Candidate, list[float]] = {c: [] for c in candidates}
    try:
        for rnd in range(ROUNDS + 1):  # round 0 warms up
            for candidate in candidates:
                torch.set_num_threads(candidate[0])
                seconds = timed_steps(models[candidate], xb, candidate[1], 1 if rnd == 0 else STEPS)
                if rnd:
                    times[candidate].append(seconds / STEPS)
    finally:
        torch.set_num_threads(before)
    return {label(c): round(1000 * statistics.median(times[c]), 2) for c in candidates}


def timed_steps(model: nn.Module, xb: torch.Tensor, bf16: bool, steps: int) -> float:
    """Seconds for ``steps`` training steps of ``model`` on ``xb``."""
    start = time.perf_counter()
    for _ in range(steps):
        out = autocast_forward(model, xb, torch.bfloat16) if bf16 else model(xb)
        out.square().mean().backward()  # a stand-in loss: float32, cheap beside the net
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.sub_(p.grad, alpha=1e-4)
                    p.grad = None
    return time.perf_counter() - start


def machine_id(flags: set[str]) -> str:
    """Names this machine for the cache: host, CPU, flags, core count and torch's version."""
    facts = [platform.node(), platform.processor(), " ".join(sorted(flags))]
    facts += [str(os.cpu_count()), torch.__version__]
    return hashlib.sha256("\n".join(facts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SpeedCache:
    """``<folder>/speed/<machine>.json``: each probed model's answer, by its key."""

    folder: Path
    machine: str

    @property
    def path(self) -> Path:
        return self.folder / "speed" / f"{self.machine}.json"

    def read(self) -> dict[str, Any]:
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # none yet, or unreadable: probed again and written whole
        return entries if isinstance(entries, dict) else {}

    def get(self, key: str) -> Speed | None:
        entry = self.read().get(key)
        try:
            return Speed(**entry) if isinstance(entry, dict) else None
        except TypeError:  # written by another version
            return None

    def put(self, key: str, speed: Speed) -> None:
        entries = {**self.read(), key: speed.to_dict()}
        atomic_write_text(self.path, json.dumps(entries, indent=1, sort_keys=True) + "\n")


def choose(
    make_model: Callable[[], nn.Module],
    xb: torch.Tensor,
    *,
    key: str,
    threads: Sequence[int],
    bf16: bool | None = None,
    wish: bool = True,
    cache: SpeedCache | None = None,
    native: bool = False,
) -> Speed:
    """The fastest of ``threads`` x (float32, bf16) for ``make_model`` here, probed once.

    Args:
        key: names the model and batch in the cache (``"cnn_fast bs=256 ..."``).
        threads: the thread counts to try, the simplest first (one: the user's).
        bf16: the user's choice, never probed (None: ``wish`` decides what is tried).
        wish: whether bf16 is worth trying (a recipe's ``bf16``); False: float32.
        native: the CPU has bf16 units (:func:`native_bf16`): bf16 needs no margin.
    """
    dtypes = [bf16] if bf16 is not None else [False, True] if wish else [False]
    candidates = [(t, d) for t in threads for d in dtypes]
    if len(candidates) == 1:
        given = "as asked" if bf16 is not None else "bf16 not asked for"
        return Speed(bf16=candidates[0][1], threads=candidates[0][0], why=given)
    key = f"{key} try={','.join(label(c) for c in candidates)}"
    if cache is not None and (known := cache.get(key)) is not None:
        return Speed(known.bf16, known.threads, f"cached {known.why}", 0.0, known.step_ms)
    start = time.perf_counter()
    step_ms = probe(make_model, xb, candidates)
    seconds = round(time.perf_counter() - start, 2)
    threads_chosen, bf16_chosen = pick(step_ms, candidates, native)
    why = f"probe {seconds} s: " + ", ".join(f"{k} {v} ms" for k, v in step_ms.items())
    speed = Speed(bf16_chosen, threads_chosen, why, seconds, step_ms)
    if cache is not None:
        cache.put(key, speed)
    return speed

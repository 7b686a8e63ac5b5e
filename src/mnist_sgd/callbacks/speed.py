"""bf16 or float32, and how many threads: the one decision, measured on this CPU once.

Not in the book. Whether bf16 autocast (``callbacks.precision``, the mechanism) is faster
than float32 depends on the CPU: AMD's and Intel's with ``avx512_bf16`` or AMX do bf16 in
hardware, while other AVX-512 CPUs have oneDNN emulate it, measured 2-3x slower (issue 30).
How many threads pay depends on the machine and the model too. So :func:`decide` is the
only place that says yes to bf16 or to more than one thread, by these rules, in order:

1. The user's choice wins and is never probed: ``bf16`` (``--bf16``/``--no-bf16``) and
   ``threads`` (``OMP_NUM_THREADS``).
2. Nothing to probe, nothing spent: float32 where bf16 was not asked for (a recipe's
   ``bf16``), where torch has no bf16 kernels here, or on a GPU (not measured); one thread
   for a *small model*, one whose forward pass is under ``SMALL_MACS`` multiply-adds a batch
   (:func:`multiply_adds`; the seed's linear model: 0.2 M, ``simple_net``: 6 M, ``mlp``: 30 M,
   ``cnn_fast``: 59 M at batch 128; such a step takes about a millisecond, where waking a
   second thread costs about what it saves); the only count where one core is usable.
3. Else a probe: a few training steps of the model at hand at each candidate (thread
   count x float32/bf16), interleaved in rounds so a burst of other work hits all alike,
   on a batch of at most ``PROBE_MACS`` multiply-adds, stopped before ``BUDGET_S`` seconds
   (the first step of the first candidate is always taken; one slow step can overrun it;
   a candidate left with its warm-up step only is judged by it; bf16 on another thread
   count is not tried where that count already loses in float32). The simplest candidate
   (the first thread count, today's rule in ``config.threads``, in float32) stays unless
   another is ``MARGIN`` faster in median; bf16 on a CPU with the native flags only needs
   to be faster, against float32 at the same thread count: the flags and the probe agree.
   So bf16 is used without the flags only where the probe finds it clearly faster.
4. The answer is kept per machine (host, CPU model and flags, cores, torch's version) and
   model (name, options, outputs, batch) in ``<cache>/speed/<machine>.json``, written
   whole and atomically: paid once, then read. A file that cannot be read or is not
   ours is ignored (probed again); one that cannot be written only costs the next probe.
   A probe its budget cut short (a candidate never stepped) is used for this run only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
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

NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})  # CPU flags of bf16 done in hardware
MARGIN = 0.10  # how much faster a less simple candidate must be (the probe's noise is below)
BUDGET_S = 1.0  # the probe's time, at most (give or take one step)
ROUNDS = 20  # timed rounds at most, after one that warms each candidate up
SMALL_MACS = 10_000_000  # multiply-adds a batch under which one thread is used unprobed
PROBE_MACS = 100_000_000  # the probe's batch: at most this many multiply-adds a forward pass
CACHE_VERSION = 2  # 2: answers from before the CLI kept freed memory (config.memory) go

Candidate = tuple[int, bool]  # (threads, bf16)
BY = ("user", "probe", "cache", "rule")  # who decided


@dataclass(frozen=True)
class Speed:
    """How training runs here: ``threads`` torch threads, bf16 autocast or float32, and who
    decided each (``precision_by``, ``threads_by``: one of ``BY``).

    ``reason``: the rule's words where a rule decided (``"small model"``); ``probe_s``: what the
    probe cost (0 unless it ran now); ``step_ms``: its median ms a step for each candidate;
    ``kept``: the answer is in the cache folder (a probe cut short by its budget is not).
    """

    bf16: bool
    threads: int
    precision_by: str
    threads_by: str
    reason: str = ""
    probe_s: float = 0.0
    step_ms: dict[str, float] = field(default_factory=dict)
    kept: bool = False

    def line(self) -> str:
        """One line for a person: ``speed: bf16, 1 thread (probed once on this CPU; cached)``."""
        said = []
        if self.precision_by == "user":
            said.append("--bf16" if self.bf16 else "--no-bf16")
        if self.threads_by == "user":
            said.append("OMP_NUM_THREADS")
        by = {self.precision_by, self.threads_by}
        if "probe" in by:
            kept = "cached" if self.kept else "not cached"
            cost = f"{self.probe_s:.1f}" if self.probe_s >= 0.1 else f"{self.probe_s:.2f}"
            said.append(f"probed on this CPU in {cost} s; {kept}")
        elif "cache" in by:
            said.append("probed once on this CPU; cached")
        if self.reason:
            said.append(self.reason)
        threads = f"{self.threads} thread" + ("" if self.threads == 1 else "s")
        why = f" ({'; '.join(said)})" if said else ""
        return f"speed: {'bf16' if self.bf16 else 'float32'}, {threads}{why}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.cache
def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, frozenset[str]]:
    """The CPU's model name and feature flags (``avx512_bf16``, ...); ``("", {})`` where unknown."""
    name, flags = "", frozenset[str]()
    try:
        with cpuinfo.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(1 << 20)  # the first CPU's lines say it all
    except OSError:
        return name, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not name:
            name = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return name, flags


def native_bf16(flags: frozenset[str] | set[str] | None = None) -> bool:
    """True where the CPU's flags (this one's when None) say it does bf16 in hardware."""
    return bool((cpu_info()[1] if flags is None else flags) & NATIVE_BF16)


def bf16_kernels() -> bool:
    """Whether this torch has oneDNN bf16 kernels for this CPU (native or emulated)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else False


def multiply_adds(model: nn.Module, one: torch.Tensor) -> int:
    """Multiply-adds of ``model``'s forward pass on ``one`` (a batch of one image): each layer's
    weight elements (its parameters of two dimensions or more), times its output map's
    positions for a convolution; biases, norms and activations are not counted."""
    total = 0

    def count(module: nn.Module, _: Any, out: Any) -> None:
        nonlocal total
        own = sum(p.numel() for p in module.parameters(recurse=False) if p.dim() >= 2)
        if own and isinstance(module, nn.modules.conv._ConvNd) and isinstance(out, torch.Tensor):
            own *= out[0, 0].numel()
        total += own

    handles = [m.register_forward_hook(count) for m in model.modules()]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(one)  # eval: a norm layer takes a batch of one
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def label(candidate: Candidate) -> str:
    threads, bf16 = candidate
    return f"{threads} {'bf16' if bf16 else 'float32'}"


def pick(step_ms: dict[str, float], candidates: Sequence[Candidate], native: bool) -> Candidate:
    """The simplest candidate unless another is clearly faster: ``MARGIN`` less time (any
    less for bf16 on a CPU with the native flags, against float32 at the same thread count).
    A candidate the probe had no time for is not chosen."""
    chosen = candidates[0]
    for candidate in candidates[1:]:
        if label(candidate) not in step_ms or label(chosen) not in step_ms:
            continue
        agree = native and candidate[1] and not chosen[1] and candidate[0] == chosen[0]
        margin = 0.0 if agree else MARGIN
        if step_ms[label(candidate)] * (1 + margin) < step_ms[label(chosen)]:
            chosen = candidate
    return chosen


def measure(
    make_model: Callable[[], nn.Module],
    xb: torch.Tensor,
    candidates: Sequence[Candidate],
    budget_s: float = BUDGET_S,
) -> tuple[dict[str, float], bool]:
    """Median ms a training step of ``make_model()`` on ``xb`` for each candidate it had time
    for, and whether every candidate was stepped or ruled out (False: cut short).

    ``xb``: one batch of model input, ``(n, 784)`` or ``(n, 1, 28, 28)`` float32. A step is the
    Learner's: forward (under bf16 autocast for bf16), a float32 loss, backward, an SGD update.
    Each candidate has its own model, warmed by one step (oneDNN builds its kernels then);
    the rounds after it are timed. No step starts that its candidate's last step (the slowest
    so far before its first) says would end after ``budget_s``. A candidate the budget left
    with its warm-up step only is given that step's time (an upper bound: each warm-up
    builds its own kernels); one never stepped is left out. bf16 at a thread count other
    than the first is ruled out, unstepped, where that count was slower in float32 than the
    first: on a busy 2-core machine such a step was measured 4-20x slower, over a second.
    torch's thread count is set back afterwards.
    """
    models = {c: make_model() for c in candidates}
    before = torch.get_num_threads()
    times: dict[Candidate, list[float]] = {c: [] for c in candidates}
    last: dict[Candidate, float] = {}
    out: set[Candidate] = set()
    first = candidates[0][0]
    start = time.perf_counter()
    try:
        for rnd in range(ROUNDS + 1):  # round 0 warms up
            for candidate in candidates:
                threads, bf16 = candidate
                losing = last.get((threads, False), 0.0) > last.get((first, False), math.inf)
                if candidate in out or (bf16 and threads != first and losing):
                    out.add(candidate)
                    continue
                guess = last.get(candidate, max(last.values(), default=0.0))
                if last and time.perf_counter() - start + guess > budget_s:
                    raise TimeoutError
                torch.set_num_threads(candidate[0])
                last[candidate] = timed_step(models[candidate], xb, candidate[1])
                if rnd:
                    times[candidate].append(last[candidate])
    except TimeoutError:
        pass
    finally:
        torch.set_num_threads(before)
    median = {c: statistics.median(t) if t else last[c] for c, t in times.items() if c in last}
    complete = all(c in last or c in out for c in candidates)
    return {label(c): round(1000 * s, 3) for c, s in median.items()}, complete


def timed_step(model: nn.Module, xb: torch.Tensor, bf16: bool) -> float:
    """Seconds for one training step of ``model`` on ``xb``."""
    start = time.perf_counter()
    out = autocast_forward(model, xb, torch.bfloat16) if bf16 else model(xb)
    out.square().mean().backward()  # a stand-in loss: float32, cheap beside the net
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.sub_(p.grad, alpha=1e-4)
                p.grad = None
    return time.perf_counter() - start


def machine_id() -> str:
    """Names this machine for the cache: host, CPU model and flags, cores, torch's version."""
    name, flags = cpu_info()
    facts = [platform.node(), platform.machine(), name, " ".join(sorted(flags))]
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
            kept = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none yet, or unreadable: probed again and written whole
        if not isinstance(kept, dict) or kept.get("version") != CACHE_VERSION:
            return {}  # not ours, or another version's
        entries = kept.get("entries")
        return entries if isinstance(entries, dict) else {}

    def get(self, key: str) -> tuple[int, bool, dict[str, float]] | None:
        """``(threads, bf16, step_ms)`` kept for ``key``; None where none (or not ours)."""
        entry = self.read().get(key)
        if not isinstance(entry, dict):
            return None
        threads, bf16, step_ms = entry.get("threads"), entry.get("bf16"), entry.get("step_ms")
        if type(threads) is not int or threads < 1 or not isinstance(bf16, bool):
            return None
        return threads, bf16, step_ms if isinstance(step_ms, dict) else {}

    def put(self, key: str, threads: int, bf16: bool, step_ms: dict[str, float]) -> bool:
        """Keep ``key``'s answer; False where the folder cannot be written."""
        entries = {**self.read(), key: {"threads": threads, "bf16": bf16, "step_ms": step_ms}}
        text = json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1, sort_keys=True)
        try:
            atomic_write_text(self.path, text + "\n")
        except OSError:
            return False  # a read-only cache folder: the next run probes again
        return True


def decide(
    make_model: Callable[[], nn.Module],
    batch: Callable[[int], torch.Tensor],
    *,
    key: str,
    bs: int,
    wish: bool,
    bf16: bool | None = None,
    threads: int | None = None,
    thread_options: Sequence[int] = (1,),
    device_type: str = "cpu",
    cache: SpeedCache | None = None,
    may_probe: bool = True,
) -> Speed:
    """bf16 or float32 and the thread count for ``make_model()`` here, by the module's rules.

    Args:
        make_model: a fresh model, laid out as it is trained.
        batch: ``batch(n)``: ``n`` model inputs for the probe.
        key: names the model in the cache (``"cnn_fast {} n_out=10"``).
        bs: the training batch size.
        wish: bf16 was asked for (a recipe's ``bf16``); False: float32 unprobed.
        bf16, threads: the user's choices (None: decided here).
        thread_options: the counts worth trying, the simplest first
            (``config.threads.thread_candidates``).
        cache: where answers are kept (None: nowhere, probed each time).
        may_probe: False in a data-parallel worker (workers probing at once would time each
            other): the cached answer, else the simplest.
    """
    reasons: list[str] = []
    if bf16 is not None:
        dtypes, precision_by = [bf16], "user"
    elif not wish:
        dtypes, precision_by = [False], "rule"
    elif device_type != "cpu":
        dtypes, precision_by = [False], "rule"
        reasons.append(f"bf16 not measured on {device_type}")
    elif not bf16_kernels():
        dtypes, precision_by = [False], "rule"
        reasons.append("no bf16 kernels in this torch")
    else:
        dtypes, precision_by = [False, True], "probe"
    options = list(dict.fromkeys(thread_options)) or [1]
    macs = 0  # counted only where the thread count or the probe's batch needs it
    if (threads is None and device_type == "cpu" and len(options) > 1) or len(dtypes) > 1:
        macs = multiply_adds(make_model(), batch(1))
    if threads is not None:
        counts, threads_by = [threads], "user"
    elif device_type != "cpu":
        counts, threads_by = [torch.get_num_threads()], "rule"
    elif len(options) == 1:
        counts, threads_by = options, "rule"
    elif macs * bs < SMALL_MACS:
        counts, threads_by = [1], "rule"
        reasons.append("small model")
    else:
        counts, threads_by = options, "probe"
    candidates = [(t, d) for t in counts for d in dtypes]
    if len(candidates) == 1:
        return Speed(dtypes[0], counts[0], precision_by, threads_by, "; ".join(reasons))
    n = max(1, min(bs, PROBE_MACS // max(macs, 1)))  # the probe's batch
    key = f"{key} bs={bs} probe_bs={n} try={','.join(label(c) for c in candidates)}"
    reason = "; ".join(reasons)
    if cache is not None and (known := cache.get(key)) is not None:
        by = {b: "cache" if b == "probe" else b for b in (precision_by, threads_by)}
        chosen_threads, chosen_bf16, step_ms = known
        return Speed(
            chosen_bf16,
            chosen_threads,
            by[precision_by],
            by[threads_by],
            reason,
            0.0,
            step_ms,
            True,
        )
    if not may_probe:
        by = {b: "rule" if b == "probe" else b for b in (precision_by, threads_by)}
        reason = "; ".join([*reasons, "not probed in a worker"])
        threads_now, bf16_now = candidates[0]
        return Speed(bf16_now, threads_now, by[precision_by], by[threads_by], reason)
    start = time.perf_counter()
    step_ms, complete = measure(make_model, batch(n), candidates)
    seconds = round(time.perf_counter() - start, 2)
    chosen_threads, chosen_bf16 = pick(step_ms, candidates, native_bf16())
    kept = False
    if not complete:  # a candidate never stepped: this run only
        reason = "; ".join([*reasons, "probe cut short"])
    elif cache is not None:
        kept = cache.put(key, chosen_threads, chosen_bf16, step_ms)
    return Speed(
        chosen_bf16, chosen_threads, precision_by, threads_by, reason, seconds, step_ms, kept
    )

"""The benchmark suite behind ``mnist-sgd bench`` (issue 6): every speed goal as rows.

Each entry maps a name (for ``--only``) to a function ``plan -> rows``. Most
reuse the scripts next to this file, loaded by path:

- ``loops``: ``bench_peers.py`` (with ``bench_learner.py``'s bare loop and
  ``Learner`` when present): Learner vs bare loop, torch's and fastai's loaders, fastai's Learner;
- ``e2e``, ``rss``: ``e2e.py``: ``mnist-sgd train`` vs the fastai notebook way; peak RSS;
- ``data``: ``bench_data.py`` (issue 2): MNIST_SAMPLE cold and warm loads vs the book's way;
- ``ten_classes``: ``bench_ten_classes.py`` (issues 5, 18): full-MNIST time to 0.99 of
  ``mnist-speedrun`` (5 seeds) vs the PyTorch-example recipe, both measured to 0.99
  (the peer stops at 8 epochs; ``--quick``: one seed and a sampled peer epoch, a
  labelled lower bound);
- ``scaling``: ``bench_scaling.py``: epoch time against dataset and batch size.

An entry whose script is missing, or that fails, gives a row saying so; the
others still run.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from benchlib import BENCH_DIR, Plan, Row, skipped

Entry = Callable[[Plan], list[Row]]


def script(name: str):  # type: ignore[no-untyped-def]
    """A benchmark script of this folder, imported by path (FileNotFoundError if absent)."""
    path = BENCH_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"benchmarks/{name} is not there")
    return benchlib.load_script(path)


def loops(plan: Plan) -> list[Row]:
    return script("bench_peers.py").loops_bench(plan)


def e2e(plan: Plan) -> list[Row]:
    return script("e2e.py").e2e_rows(plan)


def rss(plan: Plan) -> list[Row]:
    return script("e2e.py").rss_rows(plan)


def data(plan: Plan) -> list[Row]:
    """MNIST_SAMPLE from the PNG archive: cold and warm ``load_dataset`` vs the book's way."""
    bench = script("bench_data.py")
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        work = Path(tmp)
        repeat = 1 if plan.dry_run or plan.quick else 3
        mirror = bench.mirror_folder(work)
        rows = bench.rows_for("mnist_sample", mirror, work, repeat, not plan.dry_run)
    if plan.dry_run:  # reading 14,000 PNGs the book's way takes seconds: not in a smoke test
        rows.append(skipped("mnist_sample: book's way / ours cold", "dry run", (">=", 2.0)))
    for row in rows:  # issue 6's goal for the ratio (issue 2 reports it without one)
        if row.name.endswith("/ ours cold") and row.goal is None:
            row.goal = (">=", 2.0)
    return rows


def ten_classes(plan: Plan) -> list[Row]:
    """Time to 0.99 on full MNIST: ``mnist-speedrun`` vs the PyTorch-example CNN (issue 18)."""
    try:
        bench = script("bench_ten_classes.py")
    except FileNotFoundError as error:
        return [
            skipped(
                "full MNIST: time to 0.99, PyTorch example / ours",
                f"{error} (issue 5)",
                (">=", 20.0),
            )
        ]
    if not hasattr(bench, "suite_rows"):
        return [
            skipped(
                "full MNIST: time to 0.99, PyTorch example / ours",
                "bench_ten_classes.py has no suite_rows(plan) yet",
                (">=", 20.0),
            )
        ]
    return bench.suite_rows(plan)


def scaling(plan: Plan) -> list[Row]:
    return script("bench_scaling.py").suite_rows(plan)


ENTRIES: dict[str, Entry] = {
    "loops": loops,
    "e2e": e2e,
    "rss": rss,
    "data": data,
    "ten_classes": ten_classes,
    "scaling": scaling,
}


def run_entry(name: str, plan: Plan) -> list[Row]:
    """The rows of entry ``name``; one ``error`` row (with the cause) if it raised."""
    try:
        return ENTRIES[name](plan)
    except Exception as error:  # one broken benchmark must not hide the others' figures
        where = traceback.extract_tb(error.__traceback__)[-1]
        cause = f"{type(error).__name__}: {error} ({Path(where.filename).name}:{where.lineno})"
        return [Row(name, None, error=" ".join(cause.split()))]


HEADING = "## Speed (issue 6)"


def results_markdown(rows: list[Row], info: dict, mode: str, seconds: float) -> str:
    """The ``## Speed (issue 6)`` section of RESULTS.md: how it was measured, then every row."""
    command = "mnist-sgd bench --write" + {"quick": " --quick", "dry run": " --dry-run"}.get(
        mode, ""
    )
    return "\n".join(
        [
            f"`{command}` ({mode} run, {seconds:.0f} s), {info['date']}. Machine: {info['cpu']}, "
            f"{info['cpus']} cores ({info['cpu_features']}), shared with other developers at the "
            f"time (load average {info['load']} at the start). Our venv: torch {info['torch']}, "
            f"Python {info['python']}, threads: {info['threads']} (the CLI's choice, see 'fast "
            f"paths' below), OMP_WAIT_POLICY={info['omp_wait_policy']}. The peer venv's versions "
            "are in the 'peer venv' row.",
            "",
            "Each loop figure is the fastest of several interleaved rounds (a busy machine's noise "
            "falls on every contender alike). fastai runs in its own venv (another torch), so its "
            "times are divided by the bare loop timed in its own process and ours by ours: the "
            "ratio of ratios cancels the difference between the processes; it trains with our "
            "thread count. End-to-end figures are subprocess wall times after one warm-up run; "
            "the fastai notebook runs with torch's default thread count and inherits "
            "OMP_WAIT_POLICY. No GPU was lent to this task: the device-resident path "
            "(`--device cuda`: data moved once, batches gathered on the device) is written but "
            "not measured.",
            "",
            benchlib.markdown_rows(rows),
        ]
    )


def write_results(rows: list[Row], info: dict, mode: str, seconds: float) -> Path:
    """Replace the ``## Speed (issue 6)`` section of RESULTS.md (the others are kept)."""
    benchlib.write_section(HEADING, results_markdown(rows, info, mode, seconds))
    return benchlib.RESULTS

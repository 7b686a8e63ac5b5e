"""``mnist-sgd bench``: the speed benchmarks, each ratio with pass/miss against its goal.

The benchmarks are scripts in the source checkout's ``benchmarks/`` folder
(``suite.py`` lists them); an installed wheel does not ship them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from mnist_sgd.cli.common import add_data_options, add_json_flag, data_options
from mnist_sgd.errors import MnistSgdError

EXAMPLES = """examples:
  mnist-sgd bench --quick                 # every goal, fewer repeats (under 2 minutes)
  mnist-sgd bench                         # the full run behind benchmarks/RESULTS.md
  mnist-sgd bench --only loops,e2e        # some benchmarks
  mnist-sgd bench --quick --dry-run       # the least that shows each one works

fastai (a peer) runs in its own venv: sh benchmarks/peers/setup.sh
"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run the speed benchmarks against PyTorch and fastai",
        epilog=EXAMPLES,
        description="Run the speed benchmarks (needs a source checkout: benchmarks/). "
        "The data comes from where every command finds it (the data sources below).",
    )
    p.add_argument("--quick", action="store_true", help="fewer epochs and repeats")
    p.add_argument("--dry-run", action="store_true", help="run each benchmark minimally")
    add_json_flag(p, "the rows")
    p.add_argument(
        "--write",
        action="store_true",
        help="write the figures into benchmarks/RESULTS.md (its section on speed)",
    )
    p.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated benchmarks: loops, e2e, rss, data, ten_classes, scaling",
    )
    add_data_options(p)
    p.set_defaults(run=run)


def find_benchmarks(start: Path | None = None) -> Path:
    """The checkout's ``benchmarks/`` folder (next to ``src/``, or in the current folder)."""
    package = Path(__file__).resolve().parents[1]  # src/mnist_sgd
    candidates = [package.parents[1] / "benchmarks", (start or Path.cwd()) / "benchmarks"]
    for folder in candidates:
        if (folder / "suite.py").is_file():
            return folder
    raise MnistSgdError(
        f"no benchmarks/ folder next to {package.parent} or in {start or Path.cwd()}: "
        "'mnist-sgd bench' runs from a source checkout (git clone, then pip install -e .)"
    )


def load_suite(folder: Path) -> ModuleType:
    """Import ``benchmarks/suite.py`` by path (``benchmarks/`` is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mnist_sgd_bench_suite", folder / "suite.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chosen(only: str | None, names: list[str]) -> list[str]:
    """The benchmarks ``--only`` names, in suite order; a ValueError names an unknown one."""
    if only is None:
        return names
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in names]
    if unknown or not wanted:
        raise ValueError(
            f"--only {only!r}: unknown benchmark {', '.join(unknown) or '(none)'}; "
            f"choose from: {', '.join(names)}"
        )
    return [n for n in names if n in wanted]


def cpu_info() -> tuple[str, str]:
    """The CPU's model name, and whether it has bf16 and AMX units (``speed.cpu_info``)."""
    from mnist_sgd.callbacks.speed import cpu_info as read_cpu

    name, flags = read_cpu()
    if not flags:
        return name or platform.processor() or platform.machine(), "CPU flags unknown"
    bf16 = "avx512_bf16" if "avx512_bf16" in flags else "no avx512_bf16"
    amx = "AMX" if "amx_bf16" in flags else "no AMX"
    return name or platform.machine(), f"{bf16}, {amx}"


def machine() -> dict[str, Any]:
    """What the figures depend on: versions, threads, CPU, load, date."""
    import torch

    cpu, features = cpu_info()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load": round(os.getloadavg()[0], 1),
        "cpu": cpu,
        "cpu_features": features,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
    }


def run(args: argparse.Namespace) -> int:
    suite = load_suite(find_benchmarks())
    suite.benchlib.use_data(data_options(args))
    names = chosen(args.only, list(suite.ENTRIES))
    plan = suite.Plan.make(quick=args.quick, dry_run=args.dry_run)
    mode = "dry run" if args.dry_run else "quick" if args.quick else "full"
    info, start = machine(), time.perf_counter()
    if not args.json:
        print(
            f"mnist-sgd bench ({mode}): {info['date']}, torch {info['torch']}, "
            f"{info['threads']} threads, {info['cpus']} CPUs, load {info['load']}",
            flush=True,
        )
    rows = run_entries(suite, names, plan, quiet=args.json)
    seconds = time.perf_counter() - start
    summarise(rows, {"mode": mode, "machine": info, "seconds": seconds}, as_json=args.json)
    if args.write:
        print(f"wrote {suite.write_results(rows, info, mode, seconds)}", file=sys.stderr)
    errors = sum(r.status == "error" for r in rows)
    if errors:
        print(f"mnist-sgd: error: {errors} benchmark(s) failed (see above)", file=sys.stderr)
    return 1 if errors else 0


def run_entries(suite: ModuleType, names: list[str], plan: Any, *, quiet: bool) -> list[Any]:
    rows: list[Any] = []
    for name in names:
        started = time.perf_counter()
        new = suite.run_entry(name, plan)
        rows += new
        if not quiet:
            print(f"\n[{name}] {time.perf_counter() - started:.1f} s")
            print(suite.benchlib.format_rows(new), flush=True)
    return rows


def summarise(rows: list[Any], facts: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**facts, "rows": [r.to_dict() for r in rows]}, indent=1))
        return
    counts = {s: sum(r.status == s for r in rows) for s in ("pass", "miss", "skip", "error")}
    line = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"\n{line} in {facts['seconds']:.0f} s")

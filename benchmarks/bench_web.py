"""Load test of the web API (issue 8): many clients posting drawings to ``/api/predict``.

Starts ``mnist-sgd serve`` on a free loopback port (a subprocess, as a user
would), then ``--clients`` concurrent clients (httpx, asyncio) send
``--requests`` predictions in all: 280x280 PNGs like the page's canvas, made
from real MNIST test digits. Bounded: it stops after ``--requests`` or
``--max-seconds``, whichever comes first, and always stops the server.
Reports throughput, latency percentiles and failed requests; ``--write``
records them in ``benchmarks/RESULTS.md``.

    .venv/bin/python benchmarks/bench_web.py --write
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import REPO, SHARED_DATA, WORK_DIR, mnist_sgd_command
from PIL import Image

HEADING = "## Web API load test (issue 8)"
RESULTS = REPO / "benchmarks" / "RESULTS.md"


def canvas_pngs(count: int) -> list[tuple[bytes, str]]:
    """``count`` real MNIST test digits as 280x280 PNGs (like the page's canvas), with labels."""
    folder = SHARED_DATA / "mnist"
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)
    pngs = []
    for image, label in zip(images[:count], labels[:count], strict=True):
        buffer = io.BytesIO()
        Image.fromarray(image).resize((280, 280), Image.Resampling.BILINEAR).save(buffer, "PNG")
        pngs.append((buffer.getvalue(), str(int(label))))
    return pngs


def ensure_run(run: Path | None) -> Path:
    """The run to serve: ``run``, or a simple_net trained for one epoch on MNIST (kept)."""
    if run is not None:
        return run
    target = WORK_DIR / "web-run"
    if not (target / "run.json").exists():
        command = [
            *mnist_sgd_command(),
            "train",
            "--dataset",
            "mnist",
            "--loss",
            "cross_entropy",
            "--model",
            "simple_net",
            "--lr",
            "0.1",
            "--epochs",
            "1",
            "--out",
            str(target),
            "--mirror",
            str(SHARED_DATA),
            "--cache-dir",
            str(WORK_DIR / "cache"),
            "--offline",
            "--quiet",
            "--no-plots",
        ]
        subprocess.run(command, check=True, cwd=REPO, timeout=900)
    return target


def in_process_ms(run: Path, pngs: list[tuple[bytes, str]]) -> float:
    """Median milliseconds of one prediction in this process (decode, preprocess, model)."""
    from mnist_sgd.runs import load_run
    from mnist_sgd.web.draw.app import predict_bytes

    loaded = load_run(run)
    times = []
    for body, _ in pngs:
        start = time.perf_counter()
        predict_bytes(loaded, body, max_pixels=10**7)
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 2)


def start_server(run: Path) -> tuple[subprocess.Popen[str], str]:
    """``mnist-sgd serve RUN --port 0``; returns the process and its base URL."""
    process = subprocess.Popen(
        [*mnist_sgd_command(), "serve", str(run), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    line = process.stderr.readline() if process.stderr else ""
    found = re.search(r"http://\S+/", line)
    if not found:
        process.kill()
        raise RuntimeError(f"mnist-sgd serve did not start: {line.strip()}")
    return process, found.group(0)


async def load_test(
    url: str, pngs: list[tuple[bytes, str]], clients: int, requests: int, max_seconds: float
) -> dict[str, Any]:
    """``clients`` workers share ``requests`` predictions; stop at ``max_seconds``."""
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    right = 0
    next_index = 0
    deadline = time.perf_counter() + max_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index, right
        while next_index < requests and time.perf_counter() < deadline:
            body, label = pngs[next_index % len(pngs)]
            next_index += 1
            start = time.perf_counter()
            try:
                response = await client.post(
                    "api/predict", content=body, headers={"content-type": "image/png"}
                )
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:80]}")
                elif response.json()["label"] == label:
                    right += 1
            except httpx.HTTPError as error:
                failures.append(f"{type(error).__name__}: {error}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        await client.get("api/info")  # warm up: first request loads lazily imported modules
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        seconds = time.perf_counter() - start
    done = len(latencies) + sum(1 for f in failures if not f[:3].isdigit())
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": done,
        "seconds": round(seconds, 2),
        "throughput": round(done / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p90_ms": round(float(np.percentile(ms, 90)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
        "failed": len(failures),
        "accuracy": round(right / max(done, 1), 4),
        "stopped_early": done < requests,
        "failures": failures[:5],
    }


def markdown(result: dict[str, Any], command: str) -> str:
    """The RESULTS.md section for one run."""
    machine = (
        f"{os.cpu_count()} cores shared with other developers at the time (load average "
        f"{result['load']:.1f} at the start), loopback"
    )
    return (
        f"{HEADING}\n\n"
        f"`{command}` — {time.strftime('%Y-%m-%d %H:%M')}, {machine}. One uvicorn worker "
        f"(`mnist-sgd serve`, run {result['run']}); {result['clients']} concurrent httpx clients "
        f"posting 280x280 canvas-like PNGs of real MNIST test digits. One prediction alone "
        f"(decode, preprocess, model; in-process median): {result['in_process_ms']} ms.\n\n"
        "| requests | failed | seconds | throughput | p50 | p90 | p99 | max | right labels |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        f"| {result['requests']} | {result['failed']} | {result['seconds']} | "
        f"{result['throughput']} req/s | {result['p50_ms']} ms | {result['p90_ms']} ms | "
        f"{result['p99_ms']} ms | {result['max_ms']} ms | {100 * result['accuracy']:.1f}% |\n"
    )


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace (or append) this benchmark's section of RESULTS.md, leaving the others alone."""
    from mnist_sgd.files import atomic_write_text

    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.M | re.S)
    new = (
        pattern.sub(lambda _: text + "\n", old)
        if pattern.search(old)
        else old.rstrip("\n") + "\n\n" + text
    )
    atomic_write_text(path, new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        type=Path,
        default=None,
        help="run folder to serve (default: "
        "train simple_net for one epoch into the benchmark's work folder)",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop sending after this")
    parser.add_argument("--write", action="store_true", help=f"record in {RESULTS.name}")
    args = parser.parse_args()
    run = ensure_run(args.run)
    pngs = canvas_pngs(200)
    single_ms = in_process_ms(run, pngs)
    load = os.getloadavg()[0]
    server, url = start_server(run)
    try:
        result = asyncio.run(load_test(url, pngs, args.clients, args.requests, args.max_seconds))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    result["load"] = load
    result["in_process_ms"] = single_ms
    result["run"] = f"{json.loads((run / 'run.json').read_text())['model']['name']} on mnist"
    print(json.dumps(result, indent=2))
    if args.write:
        command = "python benchmarks/bench_web.py " + " ".join(sys.argv[1:])
        write_section(markdown(result, command.strip()))
    return 0 if result["failed"] == 0 and not result["stopped_early"] else 1


if __name__ == "__main__":
    sys.exit(main())

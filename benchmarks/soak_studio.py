"""Soak the studio (issue 29): many trainings started and stopped, many event streams
opened and dropped; the server's RSS after the first 10 trainings against its RSS at the end.

A real ``mnist-sgd studio`` process on loopback, spoken to over HTTP (each event stream a
raw socket that reads the first events and hangs up). The goal: the end within 20 MB of
the RSS after the first 10 trainings.

    PYTHONPATH=src .venv/bin/python benchmarks/soak_studio.py --write
    PYTHONPATH=src .venv/bin/python benchmarks/soak_studio.py --trainings 20 --streams 200
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from pathlib import Path
from typing import Any

from bench_studio import SEED, start_studio
from benchlib import WORK_DIR, write_section

HEADING = "## Studio soak: trainings and event streams, RSS (issue 29)"
PAGE = {"x-requested-with": "mnist-sgd"}  # what the studio's page sends with a bodiless POST


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "an unnamed CPU"


def wait(client: Any, tid: str, ok: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = client.get(f"/api/train/{tid}").json()
        if ok(state):
            return state
        time.sleep(0.02)
    raise TimeoutError(f"training {tid} never reached the state asked for")


def open_and_drop(port: int, tid: str) -> None:
    """An event stream: the request, its first bytes of events, then the client goes away."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"GET /api/train/{tid}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        )
        sock.recv(4096)


def soak(trainings: int, streams: int) -> dict[str, Any]:
    import httpx

    server, url = start_studio(WORK_DIR / "soak-runs")
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    per_training = max(1, streams // trainings)
    figures: dict[str, Any] = {"start_mb": rss_mb(server.pid)}
    curve: list[float] = []
    try:
        with httpx.Client(base_url=url, timeout=120, headers=PAGE) as client:
            for i in range(trainings):
                answer = client.post("/api/train", json={**SEED, "epochs": 500})
                answer.raise_for_status()
                tid = answer.json()["id"]
                wait(client, tid, lambda s: s["iter"] > 0)
                for _ in range(per_training):
                    open_and_drop(port, tid)
                client.post(f"/api/train/{tid}/stop").raise_for_status()
                wait(client, tid, lambda s: s["state"] in ("stopped", "done", "failed"))
                if (i + 1) % 10 == 0:
                    time.sleep(1)  # the training thread's last steps (its malloc_trim) are done
                    curve.append(rss_mb(server.pid))
                    figures.setdefault("after_10_mb", curve[0])
                    print(f"after {i + 1} trainings: {curve[-1]:.0f} MB", flush=True)
            time.sleep(2)  # the dropped streams' handlers notice and end
            figures["end_mb"] = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    figures |= {"trainings": trainings, "streams": per_training * trainings, "curve": curve}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trainings", type=int, default=200)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--write", action="store_true", help="write the figures to RESULTS.md")
    args = parser.parse_args()
    started, load_before = time.monotonic(), Path("/proc/loadavg").read_text().split()[0]
    f = soak(args.trainings, args.streams)
    growth = f["end_mb"] - f["after_10_mb"]
    body = (
        f"{int(f['trainings'])} trainings started and stopped, {int(f['streams'])} event "
        f"streams opened and dropped, in {time.monotonic() - started:.0f} s.\n\n"
        "| RSS | MB |\n| --- | ---: |\n"
        f"| at start | {f['start_mb']:.0f} |\n| after 10 trainings | {f['after_10_mb']:.0f} |\n"
        f"| at the end | {f['end_mb']:.0f} |\n| growth after the first 10 (goal: under 20) | "
        f"{growth:.0f} |\n\n"
        "RSS every 10 trainings, 1 s after the 10th stopped (MB): "
        f"{', '.join(f'{mb:.0f}' for mb in f['curve'])}.\n\n"
        f"{cpu_model()}, {os.cpu_count()} cores, load average before "
        f"{load_before}; `PYTHONPATH=src .venv/bin/python benchmarks/soak_studio.py "
        f"--trainings {args.trainings} --streams {args.streams}`.\n"
    )
    print(body)
    if args.write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()

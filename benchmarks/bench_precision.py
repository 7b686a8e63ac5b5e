"""bf16 autocast against float32 (issue 18): one CNN training step, the same batch, interleaved.

The long form of ``mnist_sgd.callbacks.speed``'s probe. For each net, rounds of float32 and
bf16 steps are timed in turn (as the Learner steps: channels-last weights, the forward
pass through ``precision.autocast_forward`` for bf16, the loss in float32; torch's Adam),
so load that comes and goes hits both sides alike. Prints milliseconds per
step for each round and the ratio float32 / bf16 of the medians.

    python benchmarks/bench_precision.py [--threads N] [--nets cnn_fast,cnn_best,cnn_vgg]
        [--rounds 3] [--steps 15] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
import torch
import torch.nn.functional as F


def step_ms(name: str, bf16: bool, steps: int, bs: int = 128) -> float:
    """Mean milliseconds of one training step of net ``name`` after 3 untimed warm-up steps."""
    from mnist_sgd.callbacks.precision import autocast_forward
    from mnist_sgd.config.registry import get_model

    torch.manual_seed(0)
    model = get_model(name, n_out=10).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    x, y = torch.rand(bs, 1, 28, 28), torch.randint(0, 10, (bs,))
    total = 0.0
    for i in range(steps + 3):
        start = time.perf_counter()
        out = autocast_forward(model, x, torch.bfloat16) if bf16 else model(x)
        loss = F.cross_entropy(out, y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:
            total += time.perf_counter() - start
    return 1000 * total / steps


def compare(name: str, rounds: int, steps: int) -> dict[str, object]:
    """Interleaved rounds of float32 and bf16 steps of ``name``: each round's ms, the ratio."""
    fp32, bf16 = [], []
    for _ in range(rounds):
        fp32.append(round(step_ms(name, False, steps), 1))
        bf16.append(round(step_ms(name, True, steps), 1))
    return {
        "float32 ms/step": fp32,
        "bf16 ms/step": bf16,
        "float32 / bf16": round(statistics.median(fp32) / statistics.median(bf16), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--nets", default="cnn_fast,cnn_best,cnn_vgg", help="comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15, help="timed steps a round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from mnist_sgd.callbacks.speed import native_bf16

    facts: dict[str, object] = {
        "threads": torch.get_num_threads(),
        "native bf16 (avx512_bf16 or AMX)": native_bf16(),
        "load at the start": Path("/proc/loadavg").read_text().split()[0],
    }
    for name in args.nets.split(","):
        facts[name] = compare(name, args.rounds, args.steps)
    facts["load at the end"] = Path("/proc/loadavg").read_text().split()[0]
    benchlib.print_facts(facts, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

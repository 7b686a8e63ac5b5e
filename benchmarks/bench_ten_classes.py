"""All ten digits (issue 5): time to 0.99 for ``mnist-fast`` next to the PyTorch-example CNN.

Both run in this process on the same tensors. The peer is pytorch/examples'
``mnist/main.py`` recipe without torchvision: conv 32, conv 64, max-pool,
dropout, fc 128, fc 10; Adadelta lr 1.0, StepLR gamma 0.7, batch 64, inputs
normalised by (0.1307, 0.3081), a plain loop. Times count training only (not
the per-epoch test pass). ``--recipes`` also trains the named recipes in full
(linear, MLP and, with ``--best``, the long best-accuracy ones) and reports
their final accuracy.

    python benchmarks/bench_ten_classes.py [--quick | --dry-run] [--recipes] [--best] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
import torch
import torch.nn.functional as F
from benchlib import Plan, Row
from torch import nn

HEADING = "## Ten classes (issue 5)"
RATIO = "full MNIST: time to 0.99, PyTorch example / ours"
GOALS = {
    "mnist-linear": 0.925,
    "mnist-mlp": 0.98,
    "mnist-best": 0.996,
    "sample-cnn": 0.998,
    "fashion-best": 0.94,
}


class ExampleNet(nn.Module):
    """pytorch/examples mnist ``Net``: ``(n, 1, 28, 28)`` normalised -> ``(n, 10)`` log-probs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.relu(self.fc1(torch.flatten(self.dropout1(x), 1)))
        return F.log_softmax(self.fc2(self.dropout2(x)), dim=1)


def subset(data: Any, n: int | None) -> Any:
    """The first ``n`` train and ``n // 2`` valid items of ``MnistData`` (None: all)."""
    return data if n is None else data.head(n, n // 2)


def normalised(images: torch.Tensor) -> torch.Tensor:
    return ((images.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)


@torch.no_grad()
def example_accuracy(model: nn.Module, data: Any) -> float:
    model.eval()
    preds = [model(normalised(x)).argmax(1) for x in data.valid_images.split(1000)]
    return float((torch.cat(preds) == data.valid_labels).float().mean())


def measure_example(data: Any, epochs: int, max_batches: int | None = None) -> dict[str, Any]:
    """Train the PyTorch example: seconds and test accuracy after each epoch.

    ``max_batches``: time only that many batches per epoch and scale up; the accuracy
    is then the one those batches reached (the quick suite prints it, not nan).
    """
    torch.manual_seed(1)
    model = ExampleNet()
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    n, seconds, accs, batches = len(data.train_labels), [], [], 0
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for batch, idx in enumerate(torch.randperm(n).split(64)):
            if max_batches is not None and batch == max_batches:
                break
            opt.zero_grad()
            F.nll_loss(model(normalised(data.train_images[idx])), data.train_labels[idx]).backward()
            opt.step()
            batches = batch + 1
        seconds.append(time.perf_counter() - start)
        sched.step()
        accs.append(example_accuracy(model, data))  # also after a sample of batches (quick)
        if accs[-1] >= 0.99:  # reached: no need for more epochs
            break
    per_epoch = seconds[0] * (-(-n // 64)) / batches
    return {"seconds": seconds, "accs": accs, "s_per_epoch": per_epoch}


class TrainTimer:
    """A Learner callback: training seconds per epoch, the validation pass left out."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def before_fit(self, learn: Any) -> None: ...
    def before_batch(self, learn: Any) -> None: ...
    def after_fit(self, learn: Any) -> None: ...

    def before_epoch(self, learn: Any) -> None:
        self.start = time.perf_counter()

    def after_batch(self, learn: Any) -> None:
        if learn.iter == len(learn.dls.train):
            self.seconds.append(time.perf_counter() - self.start)

    def after_epoch(self, learn: Any) -> None: ...


def measure_recipe(name: str, data: Any, **changes: Any) -> dict[str, Any]:
    """Train recipe ``name`` (options ``changes`` overridden); seconds and accuracy per epoch."""
    from mnist_sgd.recipes import get_recipe
    from mnist_sgd.training import build_learner

    config = replace(get_recipe(name), **changes)
    timer = TrainTimer()
    learn = build_learner(config, data, torch.device("cpu"), cbs=[timer])  # type: ignore[list-item]
    history = learn.fit(config.epochs, lr=config.lr)
    metric = "batch_accuracy" if config.binary else "accuracy"
    return {"seconds": timer.seconds, "accs": [r[metric] for r in history], "epochs": config.epochs}


def time_to(result: dict[str, Any], target: float = 0.99) -> float | None:
    """Training seconds until the first epoch whose test accuracy reaches ``target``."""
    total = 0.0
    for seconds, acc in zip(result["seconds"], result["accs"], strict=True):
        total += seconds
        if acc >= target:
            return total
    return None


def speed_rows(plan: Plan, peer_epochs: int) -> list[Row]:
    """Ours (``mnist-fast``) and the PyTorch example: time to 0.99 and their ratio."""
    data = subset(benchlib.load("mnist"), plan.subset)
    ours = measure_recipe("mnist-fast", data, **({"epochs": 1} if plan.dry_run else {}))
    peer_batches = 5 if plan.dry_run else 150 if plan.quick else None
    peer = measure_example(data, 1 if peer_batches else peer_epochs, peer_batches)
    ours_t = time_to(ours)
    peer_t = time_to(peer) if peer_batches is None else None  # a sample never "reaches" 0.99
    accs = [round(a, 4) for a in peer["accs"]]
    peer_text = f"{peer['s_per_epoch']:.1f} s/epoch, test acc " + (
        f"by epoch {accs}" if peer_batches is None else f"{accs[0]} after {peer_batches} batches"
    )
    ours_text = (
        f"{[round(s, 1) for s in ours['seconds']]} s, acc {[round(a, 4) for a in ours['accs']]}"
    )
    rows = [
        Row("mnist-fast: time to 0.99", ours_t, unit="s", goal=("<=", 10.0), detail=ours_text),
        Row("PyTorch example: s/epoch", peer["s_per_epoch"], unit="s", detail=peer_text),
    ]
    if ours_t is None:
        rows.append(
            benchlib.skipped(RATIO, f"mnist-fast did not reach 0.99 ({ours_text})", (">=", 10.0))
        )
    elif peer_t is not None:
        rows.append(
            Row(
                RATIO, peer_t / ours_t, goal=(">=", 10.0), detail=f"{peer_t:.1f} s / {ours_t:.1f} s"
            )
        )
    else:  # not reached within the epochs run: the peer needs more than that, a lower bound
        spent = peer["s_per_epoch"] * len(peer["seconds"])
        rows.append(
            Row(
                RATIO,
                spent / ours_t,
                goal=(">=", 10.0),
                detail=f"lower bound: the example is below 0.99 after {len(peer['seconds'])} "
                f"epoch(s) ({spent:.1f} s); ours {ours_t:.1f} s",
            )
        )
    return rows


def recipe_rows(names: list[str]) -> list[Row]:
    """Each recipe trained in full: final test accuracy against its goal, training seconds."""
    rows = []
    for name in names:
        from mnist_sgd.recipes import get_recipe

        data = benchlib.load(get_recipe(name).dataset)
        result = measure_recipe(name, data)
        detail = f"{result['epochs']} epochs, {sum(result['seconds']):.1f} s training"
        rows.append(
            Row(
                f"{name}: final accuracy",
                result["accs"][-1],
                unit="acc",
                goal=(">=", GOALS[name]) if name in GOALS else None,
                detail=detail,
            )
        )
    return rows


def suite_rows(plan: Plan) -> list[Row]:
    """For ``mnist-sgd bench``: time to 0.99, ours vs the PyTorch example (an epoch or a sample)."""
    return speed_rows(plan, peer_epochs=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time the peer on 150 batches")
    parser.add_argument("--dry-run", action="store_true", help="a 512-image subset, to smoke-test")
    parser.add_argument(
        "--peer-epochs",
        type=int,
        default=1,
        help="most epochs of the PyTorch example (stops at 0.99)",
    )
    parser.add_argument("--recipes", action="store_true", help="also mnist-linear, mnist-mlp")
    parser.add_argument(
        "--best", action="store_true", help="also mnist-best, fashion-best, sample-cnn"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", action="store_true", help=f"write '{HEADING}' in RESULTS.md")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = Plan.make(quick=args.quick, dry_run=args.dry_run)
    rows = speed_rows(plan, args.peer_epochs)
    names = (["mnist-linear", "mnist-mlp"] if args.recipes else []) + (
        ["sample-cnn", "mnist-best", "fashion-best"] if args.best else []
    )
    rows += recipe_rows(names)
    benchlib.print_rows(rows, as_json=args.json)
    if args.write:
        command = "python " + " ".join(["benchmarks/bench_ten_classes.py", *sys.argv[1:]])
        when = time.strftime("%Y-%m-%d %H:%M")
        info = benchlib.versions()
        load = Path("/proc/loadavg").read_text().split()[0]
        head = (
            f"`{command}`: {when}; {os.cpu_count()} cores shared with other developers "
            f"(load average {load} at the end); torch {info['torch']}, "
            f"{info['threads']} threads.\n\n"
        )
        benchlib.write_section(HEADING, head + benchlib.markdown_rows(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

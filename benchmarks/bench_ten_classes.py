"""All ten digits (issues 5, 18): time to 0.99, ``mnist-speedrun`` vs the PyTorch example.

Both run in this process on the same tensors, with the same torch thread count: the
count (and bf16 or float32 for ours) that ``mnist-sgd train --recipe mnist-speedrun`` decides
on this machine (``config.build.choose_speed``: a probe, cached; ``OMP_NUM_THREADS`` or
``--threads`` win), said in the row. Both clocks follow the same rule: every training step
and every test pass needed to know that 0.99 was reached (the test set is used only to
report and to stop). One-time costs (building the learner; the peer's normalised copy of
the data) are shown beside.

The peer is pytorch/examples' ``mnist/main.py`` recipe as it ships, less torchvision
(not installed here): its ``Net`` (conv 32, conv 64, max-pool, dropout, fc 128, fc 10),
Adadelta lr 1.0, ``StepLR(step_size=1, gamma=0.7)``, seed 1, batch 64 from
``torch.utils.data.DataLoader(shuffle=True)`` over a ``TensorDataset`` of images
normalised once by (0.1307, 0.3081) (the example normalises each image per read, which
is slower: this favours the peer), and its test pass (batch 1000) after every epoch.
It runs until 0.99 or ``--peer-epochs`` (default 8). Ours runs over ``--seeds`` seeds
(default 5): mean and worst time, accuracy of each.

``--quick`` times the peer on 150 batches and ours on one seed: an estimate, labelled so.
``--recipes`` also trains the named recipes in full (linear, MLP and, with ``--best``,
the long best-accuracy ones) and reports their final accuracy.

    python benchmarks/bench_ten_classes.py [--quick | --dry-run] [--recipes] [--best] [--write]
"""

from __future__ import annotations

import argparse
import os
import statistics
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
SPEED_RECIPE = "mnist-speedrun"
TARGET = 0.99
RATIO_GOAL = (">=", 20.0)
GOALS = {
    "mnist-linear": 0.925,
    "mnist-mlp": 0.98,
    "mnist-best": 0.997,
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
    """``(n, 28, 28)`` uint8 -> ``(n, 1, 28, 28)`` float32, the example's ``Normalize``."""
    return ((images.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)


def example_loaders(data: Any) -> tuple[Any, Any]:
    """The example's loaders: ``torch.utils.data.DataLoader``, batch 64 shuffled, test 1000."""
    from torch.utils.data import DataLoader, TensorDataset

    train = TensorDataset(normalised(data.train_images), data.train_labels)
    test = TensorDataset(normalised(data.valid_images), data.valid_labels)
    return DataLoader(train, batch_size=64, shuffle=True), DataLoader(test, batch_size=1000)


@torch.no_grad()
def example_test(model: nn.Module, loader: Any) -> float:
    """The example's ``test()``: test accuracy (it also sums the loss; so do we)."""
    model.eval()
    correct, loss = 0, 0.0
    for x, y in loader:
        out = model(x)
        loss += F.nll_loss(out, y, reduction="sum").item()
        correct += int((out.argmax(1) == y).sum())
    return correct / len(loader.dataset)


def example_epoch(model: nn.Module, opt: Any, loader: Any, max_batches: int | None) -> int:
    """The example's ``train()`` for one epoch (or its first ``max_batches``); batches run."""
    model.train()
    done = 0
    for x, y in loader:
        if done == max_batches:
            break
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()
        done += 1
    return done


def measure_example(data: Any, epochs: int, max_batches: int | None = None) -> dict[str, Any]:
    """Train the PyTorch example until 0.99 or ``epochs``: seconds and accuracy per epoch.

    Each epoch's seconds count its training and its test pass. ``max_batches``: time
    only that many batches (the quick estimate); ``s_per_epoch`` scales them up.
    """
    torch.manual_seed(1)  # the example's --seed default
    start = time.perf_counter()
    train, test = example_loaders(data)
    setup = time.perf_counter() - start
    model = ExampleNet()
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    seconds, accs, batches = [], [], 0
    for _ in range(epochs):
        start = time.perf_counter()
        batches = example_epoch(model, opt, train, max_batches)
        accs.append(example_test(model, test))
        sched.step()
        seconds.append(time.perf_counter() - start)
        if accs[-1] >= TARGET:
            break
    per_epoch = seconds[0] * len(train) / batches
    return {"seconds": seconds, "accs": accs, "s_per_epoch": per_epoch, "setup": setup}


class StopAtAccuracy:
    """A Learner callback: end the fit after the first epoch that reaches ``target`` accuracy."""

    def __init__(self, target: float, metric: str) -> None:
        self.target, self.metric = target, metric

    def before_fit(self, learn: Any) -> None: ...
    def before_epoch(self, learn: Any) -> None: ...
    def before_batch(self, learn: Any) -> None: ...
    def after_batch(self, learn: Any) -> None: ...
    def after_fit(self, learn: Any) -> None: ...

    def after_epoch(self, learn: Any) -> None:
        from mnist_sgd.core.callback import CancelFitException

        if learn.history[-1][self.metric] >= self.target:
            raise CancelFitException


def measure_recipe(
    name: str, data: Any, target: float | None = None, bf16: bool | None = None, **changes: Any
) -> dict[str, Any]:
    """Train recipe ``name`` (options ``changes`` overridden): seconds and accuracy per epoch.

    An epoch's seconds are the ``Learner``'s: its training and its test pass. With
    ``target``, the fit stops after the first epoch that reaches it. ``setup``: seconds
    to build the learner (model, loaders), a one-time cost.
    """
    from mnist_sgd.config.build import build_learner
    from mnist_sgd.config.recipes import get_recipe

    config = replace(get_recipe(name), **changes)
    metric = "batch_accuracy" if config.binary else "accuracy"
    cbs = [] if target is None else [StopAtAccuracy(target, metric)]
    start = time.perf_counter()
    learn = build_learner(config, data, torch.device("cpu"), cbs=cbs, bf16=bf16)  # type: ignore[arg-type]
    setup = time.perf_counter() - start
    history = learn.fit(config.epochs, lr=config.lr)
    return {
        "seconds": [r["seconds"] for r in history],
        "accs": [r[metric] for r in history],
        "epochs": config.epochs,
        "setup": setup,
    }


def time_to(result: dict[str, Any], target: float = TARGET) -> float | None:
    """Seconds (training and test passes) up to the first epoch that reaches ``target``."""
    total = 0.0
    for seconds, acc in zip(result["seconds"], result["accs"], strict=True):
        total += seconds
        if acc >= target:
            return total
    return None


def train_speed(data: Any, threads: int | None) -> Any:
    """bf16 or float32 and the thread count as ``mnist-sgd train --recipe mnist-speedrun``
    decides them here (``threads``: the user's, never probed), applied to torch."""
    from mnist_sgd.cli.train import user_threads
    from mnist_sgd.config.build import choose_speed
    from mnist_sgd.config.recipes import get_recipe

    threads = user_threads() if threads is None else threads
    cache = benchlib.data_options().cache_dir  # the bench's cache folder, as the data's
    speed = choose_speed(get_recipe(SPEED_RECIPE), data, threads=threads, cache_dir=cache)
    torch.set_num_threads(speed.threads)
    return speed


def measure_ours(
    data: Any, seeds: int, epochs: int | None = None, bf16: bool | None = None
) -> list[dict[str, Any]]:
    """``mnist-speedrun`` once per seed (0, 1, ...), each stopped when it reaches 0.99."""
    changes = {} if epochs is None else {"epochs": epochs}
    return [
        measure_recipe(SPEED_RECIPE, data, target=TARGET, bf16=bf16, seed=seed, **changes)
        for seed in range(seeds)
    ]


def ours_rows(runs: list[dict[str, Any]], speed: str = "") -> tuple[list[Row], float | None]:
    """Mean and worst time to 0.99 over the seeds (None unless every seed got there)."""
    times = [time_to(r) for r in runs]
    each = "; ".join(
        f"seed {i}: {'not reached' if t is None else f'{t:.1f} s'}, "
        f"acc {[round(a, 4) for a in r['accs']]}"
        for i, (t, r) in enumerate(zip(times, runs, strict=True))
    )
    setup = max(r["setup"] for r in runs)
    detail = f"{speed}{each}; one-time setup {setup:.2f} s (not counted)"
    reached = [t for t in times if t is not None]
    mean = statistics.mean(reached) if len(reached) == len(times) else None
    worst = max(reached) if mean is not None else None
    name = f"{SPEED_RECIPE}: time to 0.99, mean of {len(runs)} seed(s)"
    rows = [
        Row(name, mean, unit="s", goal=("<=", 4.0), detail=detail)
        if mean is not None
        else benchlib.skipped(name, f"a seed did not reach 0.99 ({detail})", ("<=", 4.0), "s"),
        Row(f"{SPEED_RECIPE}: time to 0.99, worst seed", worst, unit="s"),
    ]
    return rows, mean


def peer_row(peer: dict[str, Any], sampled: int | None) -> Row:
    """The example's seconds per epoch, with its accuracy by epoch (or after the sample)."""
    accs = [round(a, 4) for a in peer["accs"]]
    text = f"{peer['s_per_epoch']:.1f} s/epoch (training + test pass), test acc " + (
        f"by epoch {accs}" if sampled is None else f"{accs[0]} after {sampled} batches"
    )
    return Row("PyTorch example: s/epoch", peer["s_per_epoch"], unit="s", detail=text)


def ratio_row(peer: dict[str, Any], sampled: int | None, ours_t: float | None) -> Row:
    """Peer time to 0.99 / ours; a sample or a capped run gives a labelled lower bound."""
    if ours_t is None:
        return benchlib.skipped(
            RATIO, f"{SPEED_RECIPE} did not reach 0.99 on every seed", RATIO_GOAL
        )
    peer_t = time_to(peer) if sampled is None else None
    if peer_t is not None:
        detail = f"measured to 0.99 on both sides: {peer_t:.1f} s / {ours_t:.2f} s"
        return Row(RATIO, peer_t / ours_t, goal=RATIO_GOAL, detail=detail)
    spent = peer["s_per_epoch"] * len(peer["seconds"])
    how = (
        f"quick estimate, a lower bound: one example epoch timed on {sampled} batches"
        if sampled is not None
        else f"a lower bound: the example is below 0.99 after {len(peer['seconds'])} epoch(s)"
    )
    return Row(
        f"{RATIO} (lower bound)",
        spent / ours_t,
        goal=RATIO_GOAL,
        detail=f"{how} ({spent:.1f} s); ours {ours_t:.2f} s",
    )


def speed_rows(
    plan: Plan, peer_epochs: int, seeds: int = 5, threads: int | None = None
) -> list[Row]:
    """Ours (``mnist-speedrun`` over ``seeds``) and the PyTorch example: time to 0.99, ratio;
    both at the thread count ``train`` decides (:func:`train_speed`), torch's count restored."""
    data = subset(benchlib.load("mnist"), plan.subset)
    before = torch.get_num_threads()
    try:
        speed = train_speed(data, threads)
        runs = measure_ours(data, 1 if plan.dry_run or plan.quick else seeds, bf16=speed.bf16)
        sampled = 5 if plan.dry_run else 150 if plan.quick else None
        peer = measure_example(data, 1 if sampled else peer_epochs, sampled)
    finally:
        torch.set_num_threads(before)
    rows, ours_t = ours_rows(runs, f"{speed.line()}; the peer at {speed.threads} too; ")
    return [*rows, peer_row(peer, sampled), ratio_row(peer, sampled, ours_t)]


def recipe_rows(names: list[str]) -> list[Row]:
    """Each recipe trained in full: final test accuracy against its goal, training seconds."""
    rows = []
    for name in names:
        from mnist_sgd.config.recipes import get_recipe

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
    """For ``mnist-sgd bench``: time to 0.99, ours (5 seeds) vs the PyTorch example (to 0.99).

    ``--quick``: one seed of ours and a 150-batch sample of the example, a lower bound.
    """
    return speed_rows(plan, peer_epochs=8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="time the peer on 150 batches, ours on one seed"
    )
    parser.add_argument("--dry-run", action="store_true", help="a 512-image subset, to smoke-test")
    parser.add_argument(
        "--peer-epochs",
        type=int,
        default=8,
        help="most epochs of the PyTorch example (stops at 0.99)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds of ours (0, 1, ...)")
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
    rows = speed_rows(plan, args.peer_epochs, args.seeds, args.threads)
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

"""Our pipeline next to its peers (issue 6): bare loop, torch's DataLoader, fastai, the CLI, RSS.

    .venv/bin/python benchmarks/bench_peers.py [--quick] [--dry-run] [--json]

For the seed's linear model (lr 1.0) and ``simple_net`` (lr 0.1), batch 256, on
MNIST_SAMPLE, each contender trains a fresh model for a few epochs (each
epoch: shuffle, train, validate) and keeps its fastest run of several
interleaved rounds:

- bare: the bare tensor-index loop (``train_x[perm[i:i+bs]]``; for
  ``simple_net`` plain PyTorch with ``torch.optim.SGD``) and ``Learner.fit``
  over uint8 images converted per batch, as ``mnist-sgd train`` builds it: both
  from ``bench_learner.py`` (issue 3) when it is there, else our own;
- ``peers/loops.py``'s bare loop (the same code the fastai process runs), the
  same with ``index_select`` (the bare-tensor limit), and our ``DataLoader``
  over the seed's ``list(zip(train_x, train_y))``;
- torch's ``DataLoader`` over that same list, with the bare loop's step;
- fastai's ``DataLoader`` and ``Learner``: in the peer venv (another torch), so
  ``peers/fastai_loops.py`` measures its own bare loop and every fastai figure
  is a ratio to that bare loop, compared with our ratio to ours. This cancels
  the difference between the two processes and torch versions.

Then ``mnist-sgd train`` end to end (warm cache) against the fastai notebook
way (``peers/fastai_notebook.py``), both as subprocess wall times, and the peak
RSS of ``mnist-sgd train`` on full MNIST.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import benchlib
import torch
from benchlib import PEER_PYTHON, PEER_SETUP, Plan, Row, skipped
from loops import LR, accuracy, best_per_epoch, fit_bare, fit_loader

from mnist_sgd.config.threads import set_sensible_threads

BENCH_DIR = Path(__file__).resolve().parent
GOALS = {"linear": (1.2, 5.0), "simple_net": (1.2, 2.5)}  # (<= x bare, >= x faster than fastai)


def subset(data, n: int | None):  # type: ignore[no-untyped-def]
    """The first ``n`` train and ``n // 2`` valid items of ``MnistData`` (None: all)."""
    return data if n is None else data.head(n, n // 2)


def seed_data(data) -> tuple[torch.Tensor, ...]:  # type: ignore[no-untyped-def]
    """The seed's float tensors ``train_x, train_y, valid_x, valid_y`` (1 = "3")."""
    from mnist_sgd.core.data import seed_tensors

    return (
        *seed_tensors(data.train_images, data.train_labels),
        *seed_tensors(data.valid_images, data.valid_labels),
    )


def fit_learner(data, name: str, epochs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Our ``Learner.fit`` as ``mnist-sgd train`` builds it: ``(s/epoch, final accuracy)``."""
    import time

    from mnist_sgd.config.build import TrainConfig, build_learner

    config = TrainConfig(model=name, lr=LR[name], bs=256, epochs=epochs, seed=42)
    learn = build_learner(config, data)
    start = time.perf_counter()
    history = learn.fit(epochs, lr=config.lr)
    return (time.perf_counter() - start) / epochs, history[-1]["batch_accuracy"]


def our_loader(dataset: list, shuffle: bool):  # type: ignore[no-untyped-def]
    from mnist_sgd.core.data import DataLoader

    return DataLoader(dataset, batch_size=256, shuffle=shuffle)


def torch_loader(dataset: list, shuffle: bool) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=shuffle)


def learner_contenders(data, name: str, plan: Plan) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    """The bare loop and ``Learner.fit`` of ``bench_learner.py`` (issue 3), else our own.

    Returns ``({"bare": fit, "learner": fit}, where they come from)``; each fit
    gives ``(s/epoch, final accuracy)``.
    """
    tensors = seed_data(data)
    try:
        script = benchlib.load_script(BENCH_DIR / "bench_learner.py")
        bare_fit, learner_fit = script.bare_fit, script.learner_fit
    except (OSError, ImportError, AttributeError):
        return {
            "bare": lambda: fit_bare(tensors, name, plan.epochs),
            "learner": lambda: fit_learner(data, name, plan.epochs),
        }, "peers/loops.py"

    def with_accuracy(result: tuple[float, torch.nn.Module]) -> tuple[float, float]:
        return result[0], accuracy(result[1], tensors[2], tensors[3])

    return {
        "bare": lambda: with_accuracy(bare_fit(data, name, plan.epochs)),
        "learner": lambda: with_accuracy(learner_fit(data, name, plan.epochs, True)),
    }, "bench_learner.py"


def measure_ours(data, name: str, plan: Plan) -> tuple[dict[str, tuple[float, float]], str]:  # type: ignore[no-untyped-def]
    """Every in-process contender for model ``name``, interleaved: ``{key: (s/epoch, acc)}``.

    ``bare`` and ``learner`` come from ``bench_learner.py`` when it is there;
    ``loops_bare`` is the bare loop the fastai process runs too (``peers/loops.py``).
    """
    tensors = seed_data(data)
    contenders, source = learner_contenders(data, name, plan)
    contenders.update(
        {
            "loops_bare": lambda: fit_bare(tensors, name, plan.epochs),
            "bare_index_select": lambda: fit_bare(
                tensors, name, plan.epochs, gather="index_select"
            ),
            "our_dl": lambda: fit_loader(tensors, name, plan.epochs, our_loader),
            "torch_dl": lambda: fit_loader(tensors, name, plan.epochs, torch_loader),
        }
    )
    return best_per_epoch(contenders, plan.rounds), source


def measure_fastai(data, plan: Plan) -> dict:  # type: ignore[no-untyped-def]
    """Run ``peers/fastai_loops.py`` in the peer venv on the same pixels; its JSON."""
    path = benchlib.WORK_DIR / "peer_data.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            k: getattr(data, k)
            for k in ("train_images", "train_labels", "valid_images", "valid_labels")
        },
        path,
    )
    script = Path(__file__).resolve().parent / "peers" / "fastai_loops.py"
    return benchlib.run_json(
        [
            str(PEER_PYTHON),
            "-W",
            "ignore",
            str(script),
            str(path),
            "--epochs",
            str(plan.epochs),
            "--rounds",
            str(max(plan.rounds - 1, 1)),
            "--threads",
            str(torch.get_num_threads()),
        ]
    )


def loop_rows(name: str, ours: dict, source: str, peer: dict | None, why_no_peer: str) -> list[Row]:
    """The ratios for one model: ours/bare, fastai/ours, torch DataLoader/ours, fastai DL/ours."""
    max_ratio, min_speedup = GOALS[name]
    s = {k: v[0] for k, v in ours.items()}
    acc = {k: v[1] for k, v in ours.items()}
    bare_name = "bare loop" if name == "linear" else "plain PyTorch"
    rows = [
        Row(
            f"{name}: Learner.fit / {bare_name}",
            s["learner"] / s["bare"],
            goal=("<=", max_ratio),
            detail=f"Learner {s['learner']:.4f} s/epoch (acc {acc['learner']:.4f}), bare "
            f"{s['bare']:.4f} ({acc['bare']:.4f}) [{source}]; bare with index_select "
            f"{s['bare_index_select']:.4f}",
        ),
        Row(
            f"{name}: torch DataLoader / our DataLoader (list of tuples)",
            s["torch_dl"] / s["our_dl"],
            goal=(">=", 1.0),
            detail=f"torch {s['torch_dl']:.4f} s/epoch, ours {s['our_dl']:.4f}",
        ),
    ]
    speedup_name = f"{name}: fastai Learner / our Learner (each / its bare loop)"
    dl_name = f"{name}: fastai DataLoader / our DataLoader (each / its bare loop)"
    if peer is None:
        return [
            *rows,
            skipped(speedup_name, why_no_peer, (">=", min_speedup)),
            skipped(dl_name, why_no_peer, (">=", 1.0)),
        ]
    p = {k: v[0] for k, v in peer.items()}
    bare = s["loops_bare"]  # the same loop the fastai process timed as its "bare"
    rows.append(
        Row(
            speedup_name,
            (p["fastai_learner"] / p["bare"]) / (s["learner"] / bare),
            goal=(">=", min_speedup),
            detail=f"fastai {p['fastai_learner']:.4f} s/epoch (acc "
            f"{peer['fastai_learner'][1]:.4f}) / its bare {p['bare']:.4f}; ours "
            f"{s['learner']:.4f} (acc {acc['learner']:.4f}) / bare {bare:.4f}",
        )
    )
    rows.append(
        Row(
            dl_name,
            (p["fastai_dl"] / p["bare"]) / (s["our_dl"] / bare),
            goal=(">=", 1.0),
            detail=f"fastai DL {p['fastai_dl']:.4f} s/epoch / its bare {p['bare']:.4f}; "
            f"ours {s['our_dl']:.4f} / bare {bare:.4f}",
        )
    )
    return rows


def peer_problem() -> str | None:
    """Why the fastai peer cannot run here (with the fix), or None."""
    if not PEER_PYTHON.exists():
        return f"fastai not installed (no {PEER_PYTHON}); install: {PEER_SETUP}"
    return None


def loops_bench(plan: Plan) -> list[Row]:
    """Rows for the linear model and ``simple_net``: ours, bare, torch's and fastai's loaders."""
    data = subset(benchlib.load("mnist_sample"), plan.subset)
    problem = "dry run: peers not started" if not plan.peers else peer_problem()
    peer = None
    if problem is None:
        try:
            peer = measure_fastai(data, plan)
        except (RuntimeError, ValueError, OSError) as error:
            problem = f"fastai peer failed: {error}"
    rows = []
    for name in ("linear", "simple_net"):
        ours, source = measure_ours(data, name, plan)
        peer_result = None if peer is None else peer["results"][name]
        rows += loop_rows(name, ours, source, peer_result, problem or "")
    if peer is not None:
        rows.append(
            Row(
                "peer venv",
                None,
                unit="",
                detail=f"torch {peer['torch']}, fastai "
                f"{peer['fastai']}, {peer['threads']} threads; import {peer['import_s']:.2f} s",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    from e2e import e2e_rows, rss_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and rounds (< 1 min)")
    parser.add_argument("--dry-run", action="store_true", help="minimal run, to check it works")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    set_sensible_threads()  # as the CLI does
    plan = Plan.make(args.quick, args.dry_run)
    rows = loops_bench(plan) + e2e_rows(plan) + rss_rows(plan)
    benchlib.print_rows(rows, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

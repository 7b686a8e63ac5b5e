"""A run folder's lifecycle: create it, train into it, save each epoch, stop, resume, finish.

``RunTrainer`` is what ``mnist-sgd train`` (and the studio) run: it builds the
``Learner`` for a ``TrainConfig``, writes ``run.json`` with its status
(``running``, ``interrupted``, ``done``), saves model, metrics and checkpoint
after every epoch, and on ``request_stop()`` saves a mid-epoch checkpoint that
``resume_point`` picks up, so a resumed run ends with exactly the weights of
an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mnist_sgd.callbacks.resume import Resume, load_state
from mnist_sgd.core.callback import Callback
from mnist_sgd.core.learner import Learner
from mnist_sgd.errors import ModelFileError
from mnist_sgd.files import remove_stale_temps
from mnist_sgd.runs.checkpoint import SaveEachEpoch, StopOnRequest, load_checkpoint
from mnist_sgd.runs.curves import CURVES, chance_warning, draw_curves
from mnist_sgd.runs.info import (
    CHECKPOINT_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RUN_FILE,
    describe_run,
    read_history,
    read_run_info,
    write_history,
    write_run_info,
)
from mnist_sgd.runs.load import save_initial
from mnist_sgd.runs.lock import claim
from mnist_sgd.runs.tensors import short

if TYPE_CHECKING:
    from mnist_sgd.callbacks.speed import Speed
    from mnist_sgd.config.build import TrainConfig
    from mnist_sgd.datasets import MnistData

Checkpoint = tuple[dict[str, Any], dict[str, Any]]


@contextmanager
def writing(run_dir: Path, *, create: bool = True, writer: bool = True) -> Iterator[None]:
    """Hold ``run_dir``'s writer lock while a run is trained into it (:func:`runs.lock.claim`).

    Every writer of a run folder (``mnist-sgd train``, the studio) trains inside one, taken
    before anything else so a second writer is refused before it loads data or writes;
    a killed writer's temporary files are cleared first. ``writer=False`` (a data-parallel
    rank other than 0, which writes nothing) takes no lock.
    """
    if not writer:
        yield
        return
    with claim(run_dir, create=create):
        remove_stale_temps(run_dir, recursive=True)  # a killed writer's, at any depth
        yield


def default_run_dir(config: TrainConfig, root: Path = Path("runs")) -> Path:
    """``runs/DATASET-MODEL-YYYYmmdd-HHMMSS`` (a dataset given as a path: its stem)."""
    name = Path(config.dataset).stem or "data"
    return root / f"{name}-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_new(run_dir: Path) -> None:
    """Refuse a folder that already holds a run (it would be overwritten)."""
    if (Path(run_dir) / RUN_FILE).exists():
        raise ValueError(
            f"{run_dir} already holds a run; choose another --out, or --resume {run_dir}"
        )


def resume_point(run_dir: Path, epochs: int | None = None) -> tuple[TrainConfig, Checkpoint | None]:
    """``(config, checkpoint or None)`` of a run to resume.

    A run killed before its first epoch ended has no checkpoint yet: it starts
    again from epoch 1 with its saved options.

    Args:
        epochs: a new epoch count (``--epochs``): a run with a constant learning
            rate continues to it; fewer epochs than already trained, or another
            length for a scheduled run (the schedule depends on it), is refused.
    """
    from mnist_sgd.config.build import TrainConfig

    info = read_run_info(run_dir)
    try:
        config = TrainConfig(**info["train"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"{Path(run_dir) / RUN_FILE}: no usable training options ({short(error)}); "
            "this run cannot be resumed, start a new one"
        ) from None
    _check_same_model(run_dir, info, config)
    checkpoint = load_checkpoint(run_dir) if (Path(run_dir) / CHECKPOINT_FILE).exists() else None
    if epochs is not None and epochs != config.epochs:
        done = checkpoint[1]["epoch"] if checkpoint is not None else 0
        config = _longer(config, epochs, done)
    return config, checkpoint


def _check_same_model(run_dir: Path, info: dict[str, Any], config: TrainConfig) -> None:
    """The training options name the model ``run.json`` describes, and it has a sane size."""
    from mnist_sgd.runs.load import build_model

    spec = info["model"]
    if config.model != spec["name"] or config.model_kwargs != spec.get("kwargs", {}):
        raise ModelFileError(
            f"{Path(run_dir) / RUN_FILE}: its training options and its model disagree; "
            "the file was edited or damaged, this run cannot be resumed"
        )
    with torch.device("meta"):  # laid out and its size checked only: nothing allocated
        build_model(info, None, Path(run_dir) / RUN_FILE)


def _longer(config: TrainConfig, epochs: int, done: int) -> TrainConfig:
    """``config`` with ``epochs``, if the run can go on to that count."""
    from dataclasses import replace

    if epochs < done:
        raise ValueError(f"--epochs {epochs}: the run has already trained {done} epochs")
    if config.schedule != "constant":
        raise ValueError(
            f"--epochs {epochs}: this run's {config.schedule} schedule was laid out for "
            f"{config.epochs} epochs; resume it without --epochs, or start a new run"
        )
    return replace(config, epochs=epochs)


def is_complete(run_dir: Path, config: TrainConfig, checkpoint: Checkpoint | None) -> bool:
    """True when the run has trained all of ``config.epochs`` (nothing left to resume)."""
    if checkpoint is None:
        return read_run_info(run_dir).get("status") == "done"
    return int(checkpoint[1]["epoch"]) >= config.epochs


def verify_complete(run_dir: Path, checkpoint: Checkpoint | None) -> str:
    """Check a finished run's files, rebuilding each one the checkpoint can: model, metrics, curves.

    Returns:
        One line naming each file repaired, or saying that all verified.

    Raises:
        ModelFileError: a file is unusable and no checkpoint can rebuild it; the message names it.
    """
    run_dir = Path(run_dir)
    remove_stale_temps(run_dir, recursive=True)  # a killed writer's, at any depth
    info = read_run_info(run_dir)
    repairs = [
        repair(run_dir, info, checkpoint)
        for repair in (_check_model, _check_metrics, _check_curves)
    ]
    if checkpoint is not None and info.get("status") != "done":  # killed before run.json
        write_run_info(run_dir, {**info, "status": "done", "final": checkpoint[1]["history"][-1]})
    if said := [repair for repair in repairs if repair is not None]:
        return f"{run_dir} is complete; " + "; ".join(said)
    if checkpoint is None:
        return f"{run_dir} is complete: {MODEL_FILE} verified (no checkpoint); nothing to do"
    return (
        f"{run_dir} is complete ({checkpoint[1]['epoch']} epochs): {MODEL_FILE}, {METRICS_FILE} "
        f"and {CHECKPOINT_FILE} verified; nothing to do (--epochs N trains it further)"
    )


def _unrepairable(error: ModelFileError) -> ModelFileError:
    return ModelFileError(f"{error}; the run has no checkpoint to rebuild it from: train it again")


def _check_model(run_dir: Path, info: dict[str, Any], checkpoint: Checkpoint | None) -> str | None:
    """None when ``model.safetensors`` loads and equals the checkpoint's; else rewrite it."""
    from mnist_sgd.runs.load import build_model, load_model, load_weights, save_model

    try:
        saved = load_model(run_dir, info).state_dict()
    except ModelFileError as error:
        if checkpoint is None:
            raise _unrepairable(error) from None
        problem = "was unusable"
    else:
        if checkpoint is None or all(
            saved[k].equal(v) for k, v in _model_state(checkpoint).items() if k in saved
        ):
            return None
        problem = "differed from the checkpoint's"
    model = build_model(info, None, run_dir / RUN_FILE)
    load_weights(model, _model_state(checkpoint), run_dir / CHECKPOINT_FILE)
    save_model(run_dir, model)
    return f"its {MODEL_FILE} {problem}, rewritten from the checkpoint"


def _check_metrics(
    run_dir: Path, info: dict[str, Any], checkpoint: Checkpoint | None
) -> str | None:
    """None when ``metrics.jsonl`` reads and holds every epoch; else rewrite it."""
    try:
        history = read_history(run_dir)
    except ModelFileError as error:
        if checkpoint is None:
            raise _unrepairable(error) from None
        problem = "was unusable"
    else:
        epochs = history[-1].get("epoch", len(history)) if history else 0
        if checkpoint is None or epochs == len(checkpoint[1]["history"]):  # read_history thins
            return None
        problem = "was missing epochs"
    write_history(run_dir, checkpoint[1]["history"])
    return f"its {METRICS_FILE} {problem}, rewritten from the checkpoint"


def _check_curves(run_dir: Path, info: dict[str, Any], checkpoint: Checkpoint | None) -> str | None:
    """None when the curves were drawn or never asked for (no ``plots/``); else draw them."""
    path = run_dir / CURVES
    if not path.parent.is_dir() or _is_png(path):
        return None
    history = checkpoint[1]["history"] if checkpoint is not None else read_history(run_dir)
    if (warning := draw_curves(run_dir, history)) is not None:
        return warning.removeprefix("warning: ")
    return f"its {CURVES} was missing or damaged, drawn again"


def _is_png(path: Path) -> bool:
    """Whether ``path`` holds a whole PNG: its signature first, its ``IEND`` chunk last."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
            handle.seek(max(path.stat().st_size - 8, 0))
            return head == b"\x89PNG\r\n\x1a\n" and handle.read(8) == b"IEND\xaeB`\x82"
    except OSError:
        return False


def _model_state(checkpoint: Checkpoint) -> dict[str, Any]:
    return {k.removeprefix("model."): v for k, v in checkpoint[0].items() if k.startswith("model.")}


def train_run_info(config: TrainConfig, data: MnistData, learn: Learner) -> dict[str, Any]:
    """``run.json`` of a run trained from ``config`` on ``data``."""
    from mnist_sgd.core.model import takes_flat_input

    return describe_run(
        dataset=config.dataset,
        classes=list(data.classes),
        model={
            "name": config.model,
            "n_out": config.n_out(data),
            "kwargs": config.model_kwargs,
            "flat": takes_flat_input(learn.model),
            "parameters": sum(p.numel() for p in learn.model.parameters()),
        },
        loss=config.loss,
        metrics=[m.__name__ for m in learn.metrics],
        train=config.to_dict(),
        sizes={"train": len(data.train_labels), "valid": len(data.valid_labels)},
        data=data_source(data),
    )


def data_source(data: MnistData) -> dict[str, Any] | None:
    """Where a user's set came from and how it was split (None: a registry dataset)."""
    if not data.source:
        return None
    return {
        "source": data.source,
        "content_sha256": data.digest,
        "valid_pct": data.valid_pct,
        "split_seed": data.split_seed,
    }


def start_from_weights(learn: Learner, weights: dict[str, torch.Tensor], source: Path) -> list[str]:
    """Load ``weights`` into ``learn.model`` where the shapes agree; the names kept fresh.

    Raises:
        ModelFileError: the names differ (another architecture).
    """
    state = learn.model.state_dict()
    if set(state) != set(weights):
        raise ModelFileError(f"{source}: weights of another architecture; give the same --model")
    fresh = [name for name, value in state.items() if weights[name].shape != value.shape]
    taken = {name: weights[name].to(state[name].dtype) for name in state if name not in fresh}
    learn.model.load_state_dict({**state, **taken})
    learn.initial_state = {k: v.detach().clone() for k, v in learn.model.state_dict().items()}
    return fresh


class RunTrainer:
    """Train ``config`` on ``data`` into ``run_dir``, saving as it goes.

    Args:
        checkpoint: from :func:`resume_point`, to continue where a run stopped.
        cbs: extra callbacks (progress printing, live streaming).
        writer: False trains the same steps but writes nothing (a data-parallel
            worker other than rank 0: ``mnist_sgd.runs.parallel``).
        curves: draw ``plots/history.png`` when the run is done (``mnist-sgd train`` draws
            them itself, detached: False).
        speed: bf16 or float32 and the threads, as ``config.build.choose_speed`` decided
            (recorded in ``run.json``'s ``speed``); None: decided here the same way, at
            torch's thread count now (the studio), its answer kept in ``cache_dir``'s
            ``speed/`` (None: the user's cache folder).

    Run it inside :func:`writing` (the folder's lock). After :meth:`fit`, ``warnings`` holds
    what the caller should show: a curve that could not be drawn, a model no better than
    chance (:mod:`mnist_sgd.runs.curves`).
    """

    def __init__(
        self,
        run_dir: Path,
        config: TrainConfig,
        data: MnistData,
        *,
        device: torch.device | None = None,
        cbs: Sequence[Callback] = (),
        checkpoint: Checkpoint | None = None,
        writer: bool = True,
        curves: bool = True,
        speed: Speed | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        from mnist_sgd.config.build import build_learner, choose_speed

        self.run_dir, self.config, self.checkpoint = Path(run_dir), config, checkpoint
        self.writer, self.curves, self.valid_labels = writer, curves, data.valid_labels
        self.warnings: list[str] = []
        self.stopper = StopOnRequest(self.run_dir, save=writer)
        savers = [SaveEachEpoch(self.run_dir)] if writer else []
        resumable = [Resume(), *cbs, *savers, self.stopper]
        if speed is None:
            here = [torch.get_num_threads()]
            speed = choose_speed(config, data, device, thread_options=here, cache_dir=cache_dir)
        self.learn = build_learner(config, data, device, cbs=resumable, bf16=speed.bf16)
        self.info = {**train_run_info(config, data, self.learn), "speed": speed.to_dict()}
        self.history: list[dict[str, float]] = []

    @property
    def stopped(self) -> bool:
        """True when the fit ended early on :meth:`request_stop` (a checkpoint was saved)."""
        return self.stopper.stopped

    def request_stop(self) -> None:
        """Ask the fit to stop after the current batch (safe from a signal handler or thread)."""
        self.stopper.request()

    def fit(self) -> list[dict[str, float]]:
        """Train (or continue) to ``config.epochs``; ``run.json`` says how it ended."""
        self._write_status("running")
        if self.checkpoint is None:
            if self.writer:
                save_initial(self.run_dir, self.learn.initial_state)
        else:
            self._restore(self.checkpoint)
        self.history = self.learn.fit(
            self.config.epochs, lr=self.config.lr, resume=self.checkpoint is not None
        )
        if self.stopped:
            self._write_status("interrupted")
            return self.history
        self._write_status("done", final=self.history[-1] if self.history else {})
        found = [chance_warning(self.history, self.valid_labels, self.config.lr)]
        if self.writer and self.curves:
            found.append(draw_curves(self.run_dir, self.history))
        self.warnings = [warning for warning in found if warning is not None]
        return self.history

    def start_from(self, source_run: Path) -> str | None:
        """Fine-tuning: start from ``source_run``'s trained weights (the same architecture).

        Weights whose shape differs (the last layer, when the classes differ) keep their
        fresh initialisation; ``init.safetensors`` records the weights the fit starts from.

        Returns:
            One line saying which layers start fresh, or None when every weight was taken.
        """
        from mnist_sgd.runs.tensors import read_tensors

        source_run = Path(source_run)
        info = read_run_info(source_run)
        if info["model"].get("name") != self.config.model:
            raise ModelFileError(
                f"{source_run}: its model is {info['model'].get('name')!r}, not "
                f"{self.config.model!r}; --init-from needs the same --model"
            )
        weights, _ = read_tensors(source_run / MODEL_FILE)
        fresh = start_from_weights(self.learn, weights, source_run / MODEL_FILE)
        self.info = {**self.info, "init_from": str(source_run.resolve())}
        if not fresh:
            return None
        return (
            f"starting from {source_run}; new {', '.join(fresh)} for "
            f"{len(self.info['classes'])} classes (the run had {len(info['classes'])})"
        )

    def _restore(self, checkpoint: Checkpoint) -> None:
        """Load the checkpoint into the learner after checking it fits this run's model."""
        from mnist_sgd.runs.load import load_weights

        path = self.run_dir / CHECKPOINT_FILE
        load_weights(self.learn.model, _model_state(checkpoint), path)
        try:
            load_state(self.learn, *checkpoint, lr=self.config.lr)
        except (KeyError, IndexError, RuntimeError, TypeError, ValueError) as error:
            raise ModelFileError(
                f"{path}: does not fit this run ({short(error)}); it cannot be resumed"
            ) from None

    def _write_status(self, status: str, **extra: Any) -> None:
        if self.writer:
            write_run_info(self.run_dir, {**self.info, "status": status, **extra})

"""The studio's trainings: each one a ``RunTrainer`` in a worker thread, watched by a callback.

A training whose latest epoch is at chance, or whose loss has stopped moving, is *stuck*
(:func:`mnist_sgd.runs.curves.stuck_reason`, the rule of the chance warning): a ``stuck``
event with the one-line reason (null when a later epoch recovers), ``stuck`` in its status,
and the state ``stuck`` rather than ``done`` when it ends so. Non-finite loss: ``diverged``.

A training may be paced (``speed``, batches a second, changeable as it runs: a class watching
each batch): the thread waits between batches, and pause, step and stop still act at once.

Through ``RunTrainer`` every studio training is a normal run folder with a resumable checkpoint;
the callback, :class:`Watch`, publishes events, keeps the live model copy and holds a paused
training (``step`` lets exactly one batch through and records its seven steps).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mnist_sgd.config.build import TrainConfig
from mnist_sgd.core.callback import Callback
from mnist_sgd.core.learner import Learner
from mnist_sgd.errors import MnistSgdError, TrainingError, one_line
from mnist_sgd.runs import (
    Run,
    RunTrainer,
    build_model,
    default_run_dir,
    write_run_info,
    writing,
)
from mnist_sgd.runs.curves import stuck_said
from mnist_sgd.web.shared.images import finite, prediction, said_json, weight_pictures
from mnist_sgd.web.studio.events import EventLog
from mnist_sgd.web.studio.step import StepCapture, verdicts

MAX_ACTIVE = 2
"""Trainings that may run (or wait paused) at once; more get a 429."""
MAX_KEPT = 32
"""Trainings a session remembers; the oldest finished ones are forgotten first."""
SNAPSHOT_S = 0.05
"""Longest age of the live model copy that predictions use, while training runs."""
PANEL = 16
ACTIVE = ("loading", "running", "paused", "stopping")


class Conflict(Exception):
    """A request that does not fit the training's state (answered 409)."""


class Busy(Exception):
    """Too many trainings at once (answered 429)."""


class Unknown(Exception):
    """No training of that id (answered 404)."""


class Control:
    """Pause, step, stop and the pace, shared between the request handlers and the thread."""

    def __init__(self, speed: float | None = None) -> None:
        self.cond = threading.Condition()
        self.paused, self.steps, self.stopping = False, 0, False
        self.speed = speed  # batches a second at most (None: full speed)
        self.speeds = 0  # how many times the speed was changed

    def set_speed(self, speed: float | None) -> None:
        """A new pace, from the next batch on (a wait for the old pace ends at once)."""
        with self.cond:
            self.speed, self.speeds = speed, self.speeds + 1
            self.cond.notify_all()

    def pace(self, since: float) -> None:
        """Hold the thread until ``1 / speed`` seconds after ``since`` (``time.perf_counter``).

        Pause, step, stop and a new speed end the wait at once (a new speed waits anew).
        """
        if self.speed is None:  # the common case, without the lock
            return
        with self.cond:
            while self.speed is not None and not self.paused and not self.stopping:
                left = since + 1 / self.speed - time.perf_counter()
                if left <= 0:
                    return
                self.cond.wait(left)

    def set(self, *, paused: bool | None = None, step: bool = False, stop: bool = False) -> None:
        """Change the state and wake the training thread."""
        with self.cond:
            if paused is not None:
                self.paused, self.steps = paused, 0
            if step:
                self.paused, self.steps = True, self.steps + 1
            self.stopping = self.stopping or stop
            self.cond.notify_all()

    def wait_turn(self, on_wait: Callable[[], None]) -> bool:
        """Block while paused; True when released for exactly one step."""
        if not self.paused and not self.stopping:  # the common case, without the lock
            return False
        with self.cond:
            if self.paused and not self.steps and not self.stopping:
                on_wait()
            while self.paused and not self.steps and not self.stopping:
                self.cond.wait()
            if self.paused and self.steps and not self.stopping:
                self.steps -= 1
                return True
            return False


class Watch(Callback):
    """The studio's callback: events, the live model copy, pause and step."""

    def __init__(self, training: Training) -> None:
        self.training = training
        self.times: deque[float] = deque(maxlen=32)
        self.capture: StepCapture | None = None
        self.stepping = False
        self.copied = 0.0
        self.released = 0.0  # when the last batch was let through (for the pace)
        self.speeds = training.control.speeds

    def before_batch(self, learn: Learner) -> None:
        if self.stepping:
            self.capture = StepCapture(learn)

    def after_batch(self, learn: Learner) -> None:
        now = time.perf_counter()
        self.times.append(now)
        t = self.training
        t.iter = learn.epoch * len(learn.dls.train) + learn.iter
        t.events.publish("batch", self._batch_facts(learn))  # finite already: no finite()
        if self.capture is not None:
            t.last_step = finite(self.capture.finish(t.classes, t.config.binary))
            self.capture = None
            t.publish("step", t.last_step)
        if now - self.copied > SNAPSHOT_S:
            self._copy(learn, now)
        t.control.pace(self.released)
        if self.speeds != t.control.speeds:  # batches/s measured at the new pace only
            self.speeds = t.control.speeds
            self.times.clear()
        self.stepping = t.control.wait_turn(lambda: self._paused(learn))
        self.released = time.perf_counter()
        t.state = "stopping" if t.control.stopping else "running"

    def _batch_facts(self, learn: Learner) -> dict[str, Any]:
        n = len(self.times)
        span = self.times[-1] - self.times[0] if n > 1 else 0.0
        loss = float(learn.loss)
        return {
            "epoch": learn.epoch,
            "iter": self.training.iter,
            "loss": loss if math.isfinite(loss) else None,
            "lr": float(learn.opt.lr) if learn.opt is not None else learn.lr,
            "bps": (n - 1) / span if span > 0 else None,
            "t": time.time(),
        }

    def _paused(self, learn: Learner) -> None:
        self._copy(learn, time.perf_counter())
        self.training.state = "paused"
        self.training.publish("state", {"state": "paused", "iter": self.training.iter})
        self.times.clear()

    def _copy(self, learn: Learner, now: float) -> None:
        self.copied = now
        self.training.copy_model(learn)

    def after_epoch(self, learn: Learner) -> None:
        t = self.training
        t.history = [dict(r) for r in learn.history]
        t.publish("epoch", dict(learn.history[-1]))
        self._copy(learn, time.perf_counter())
        t.check_stuck()


class Training:
    """One training of the studio: config, run folder, state, events, live model."""

    def __init__(
        self,
        config: TrainConfig,
        runs_dir: Path,
        load: Callable[[str], Any],
        device: torch.device | None = None,
        speed: float | None = None,
        *,
        cache_dir: Path | None = None,
    ) -> None:
        self.id, self.config, self.load, self.device = secrets.token_hex(4), config, load, device
        self.cache_dir = cache_dir
        base = default_run_dir(config, Path(runs_dir))
        self.run_dir = base.with_name(f"{base.name}-{self.id}")
        self.state, self.diverged = "loading", False
        self.stuck: str | None = None  # why the latest epoch is stuck (at chance, loss still)
        self.stuck_said: dict[str, Any] | None = None  # the same by catalogue key, for the page
        self.error: str | None = None
        self.iter, self.n_batches = 0, 0
        self.history: list[dict[str, float]] = []
        self.events, self.control = EventLog(), Control(speed)
        self.last_step: dict[str, Any] | None = None
        self.classes: list[str] = []
        self.trainer: RunTrainer | None = None
        self.live: Run | None = None
        self.initial: dict[str, torch.Tensor] = {}
        self.panel: tuple[torch.Tensor, torch.Tensor] | None = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name=f"studio-{self.id}", daemon=True)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """An event for the page (NaN and infinity become null)."""
        self.events.publish(kind, finite(data))

    def _work(self) -> None:
        """The thread: load the data, train through ``RunTrainer``, say how it ended."""
        try:
            trainer = self._trainer(self.load(self.config.dataset))
            self.state = "stopping" if self.control.stopping else "running"
            if self.control.stopping:  # Stop came while the data loaded
                trainer.request_stop()
            with writing(self.run_dir):
                trainer.fit()
            self._finish(trainer)
        except TrainingError as error:
            self._fail(str(error), diverged=True)
        except (MnistSgdError, ValueError, OSError, RuntimeError) as error:
            self._fail(one_line(error), diverged=False)
        finally:
            self.trainer = None  # its learner, optimiser and loaders: a finished one needs none
            give_back_free_memory()

    def _trainer(self, data: Any) -> RunTrainer:
        self.classes = list(data.classes)
        trainer = RunTrainer(
            self.run_dir,
            self.config,
            data,
            device=self.device,
            cbs=[Watch(self)],
            cache_dir=self.cache_dir,
        )
        self.n_batches = len(trainer.learn.dls.train)
        self.initial = {k: v.cpu() for k, v in trainer.learn.initial_state.items()}
        model = build_model(trainer.info).eval()
        self.live = Run(self.run_dir, trainer.info, model, self.history)
        self.copy_model(trainer.learn)
        picks = torch.linspace(0, len(data.valid_labels) - 1, PANEL).round().long()
        self.panel = (data.valid_images[picks], data.valid_labels[picks])
        self.trainer = trainer
        return trainer

    def check_stuck(self) -> None:
        """After each epoch: stuck or not (the library's chance rule); an event when it changes."""
        labels = self.trainer.valid_labels if self.trainer is not None else None
        if labels is None:
            return
        sigmoid = self.config.loss == "mnist_loss"
        said = stuck_said(self.history, labels, self.config.lr, sigmoid=sigmoid)
        reason = None if said is None else said.text("en")
        if reason != self.stuck:
            self.stuck, self.stuck_said = reason, said_json(said)
            self.publish(
                "stuck", {"reason": reason, "said": self.stuck_said, "epoch": len(self.history)}
            )

    def _finish(self, trainer: RunTrainer) -> None:
        self.history = [dict(r) for r in trainer.history]
        self.copy_model(trainer.learn)
        self.state = "stopped" if trainer.stopped else "stuck" if self.stuck else "done"
        done = {
            "state": self.state,
            "run_dir": str(self.run_dir),
            "warnings": trainer.warnings,  # curves it could not draw, a chance-level model
            "stuck": self.stuck,
            "stuck_said": self.stuck_said,
        }
        self.publish("done", done)

    def _fail(self, message: str, *, diverged: bool) -> None:
        self.state = "diverged" if diverged else "error"
        self.error, self.diverged = message, diverged
        if diverged and self.trainer is not None:
            write_run_info(
                self.run_dir, {**self.trainer.info, "status": "diverged", "error": message}
            )
        self.publish("error", {"message": message, "diverged": diverged, "state": self.state})

    def copy_model(self, learn: Learner) -> None:
        """Copy the training model's weights into the live model (predictions, pictures)."""
        if self.live is None:
            return
        with self.lock, torch.no_grad():
            for name, value in self.live.model.state_dict().items():
                value.copy_(learn.model.state_dict()[name])

    def command(self, what: str) -> None:
        """``pause``, ``resume``, ``step`` or ``stop``; :class:`Conflict` when it cannot apply."""
        if self.state not in ACTIVE or self.state == "stopping":
            raise Conflict(f"training {self.id} is {self.state}; it cannot {what} now")
        if what == "resume" and not self.control.paused:
            raise Conflict(f"training {self.id} is not paused; nothing to resume")
        if what == "stop":
            self.state = "stopping"
            self.control.set(stop=True)
            if self.trainer is not None:  # else the thread sees control.stopping once built
                self.trainer.request_stop()
            return
        self.control.set(paused=None if what == "step" else what == "pause", step=what == "step")
        if what == "resume":
            self.state = "running"
            self.publish("state", {"state": "running", "iter": self.iter})

    def set_speed(self, speed: float | None) -> None:
        """Pace the training at ``speed`` batches a second from now on (None: full speed)."""
        self.control.set_speed(speed)
        self.publish("speed", {"speed": speed, "iter": self.iter})

    def status(self) -> dict[str, Any]:
        """What ``GET /api/train/{id}`` answers."""
        return finite(
            {
                "id": self.id,
                "state": self.state,
                "config": self.config.to_dict(),
                "epoch": len(self.history),
                "epochs": self.config.epochs,
                "iter": self.iter,
                "batches_per_epoch": self.n_batches,
                "history": self.history,
                "run_dir": str(self.run_dir),
                "classes": self.classes,
                "error": self.error,
                "diverged": self.diverged,
                "stuck": self.stuck,
                "speed": self.control.speed,
                "stuck_said": self.stuck_said,
                "last_event": self.events.last_seq,
            }
        )

    def predict(self, seen: torch.Tensor) -> dict[str, Any]:
        """The live model's answer for a ``(28, 28)`` uint8 picture (as ``serve``'s predict)."""
        live = self._live()
        with self.lock:
            probs = live.probabilities(seen.unsqueeze(0))[0]
        return {**prediction(live.classes, probs, seen), "iter": self.iter}

    def _live(self) -> Run:
        if self.live is None:
            raise Conflict(f"training {self.id} is still loading its data; try again in a moment")
        return self.live

    def weights(self) -> dict[str, Any] | None:
        """The live linear model's weights and their change since initialisation (else None)."""
        live = self._live()
        with self.lock:
            pictures = weight_pictures(live, self.initial)
        if pictures is not None:
            pictures["iter"] = self.iter
        return pictures

    def digits(self) -> dict[str, Any]:
        """The 16 fixed validation digits and the live model's verdict on each."""
        live = self._live()
        assert self.panel is not None
        images, labels = self.panel
        with self.lock:
            probs = live.probabilities(images)
        guess = probs.argmax(dim=1)
        return finite({"iter": self.iter, **verdicts(live.classes, images, labels, guess, probs)})


def give_back_free_memory() -> None:
    """Return the C heap's free pages to the OS (glibc's ``malloc_trim``; elsewhere nothing).

    Each training runs in a thread of its own and frees its tensors at the end, but glibc
    keeps the freed memory: the studio grew about 1 MB a training, for ever (issue 29, 11;
    ``benchmarks/soak_studio.py``), while Python's own heap stayed flat.
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class Studio:
    """The trainings of one studio server: start, find, list, shut down; with limits."""

    runs_dir: Path
    load: Callable[[str], Any]
    _: KW_ONLY
    device: torch.device | None = None
    max_active: int = MAX_ACTIVE
    cache_dir: Path | None = None  # where the speed probe's answers are kept (None: the user's)
    trainings: dict[str, Training] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, config: TrainConfig, speed: float | None = None) -> Training:
        """Start a training in its own thread; :class:`Busy` when ``max_active`` already run.

        ``speed``: at most this many batches a second (None: full speed).
        """
        with self.lock:
            active = [t for t in self.trainings.values() if t.state in ACTIVE]
            if len(active) >= self.max_active:
                raise Busy(
                    f"{len(active)} trainings are running (the limit is {self.max_active}); "
                    f"stop one ({', '.join(t.id for t in active)}) or wait for it to finish"
                )
            training = Training(
                config, self.runs_dir, self.load, self.device, speed, cache_dir=self.cache_dir
            )
            self._forget_old()
            self.trainings[training.id] = training
        training.thread.start()
        return training

    def _forget_old(self) -> None:
        done = [k for k, t in self.trainings.items() if t.state not in ACTIVE]
        for key in done[: max(0, len(self.trainings) - MAX_KEPT + 1)]:
            del self.trainings[key]

    def get(self, tid: str) -> Training:
        """The training ``tid``; :class:`Unknown` when there is none."""
        training = self.trainings.get(tid)
        if training is None:
            raise Unknown(f"no training {tid!r} in this studio; start one with POST /api/train")
        return training

    def stop_all(self) -> None:
        """Ask every training to stop (safe from a signal handler); their streams then end."""
        for training in list(self.trainings.values()):
            if training.state in ACTIVE and training.state != "stopping":
                training.command("stop")

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every training (each saves a resumable checkpoint) and wait for the threads."""
        self.stop_all()
        for training in list(self.trainings.values()):
            if training.thread.is_alive():
                training.thread.join(timeout)

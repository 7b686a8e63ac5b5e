"""Run folders: the model (safetensors), ``run.json``, ``metrics.jsonl``, the resume checkpoint.

One module a part: ``tensors`` (safetensors, read safely), ``info`` (``run.json``
and ``metrics.jsonl``), ``load`` (a run read back as a model), ``checkpoint``
(the resume point), ``folder`` (the lifecycle: train into a folder, stop,
resume, finish), ``lock`` (one writer a folder), ``safejson`` (JSON read with
size and depth limits). A run folder is loadable as soon as its first epoch has
finished.
"""

from mnist_sgd.runs.checkpoint import (
    SaveEachEpoch,
    StopOnRequest,
    load_checkpoint,
    save_checkpoint,
)
from mnist_sgd.runs.export import export, load_learner
from mnist_sgd.runs.folder import (
    Checkpoint,
    RunTrainer,
    check_new,
    default_run_dir,
    is_complete,
    resume_point,
    train_run_info,
    verify_complete,
    writing,
)
from mnist_sgd.runs.info import (
    CHECKPOINT_FILE,
    FORMAT,
    INIT_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RUN_FILE,
    describe_run,
    read_history,
    read_run_info,
    write_history,
    write_run_info,
)
from mnist_sgd.runs.load import (
    Run,
    build_model,
    load_run,
    load_weights,
    save_initial,
    save_model,
)
from mnist_sgd.runs.lock import LOCK_FILE, RunBusyError, claim
from mnist_sgd.runs.tensors import MAX_HEADER, read_tensors, save_tensors

__all__ = [
    "CHECKPOINT_FILE",
    "FORMAT",
    "INIT_FILE",
    "LOCK_FILE",
    "MAX_HEADER",
    "METRICS_FILE",
    "MODEL_FILE",
    "RUN_FILE",
    "Checkpoint",
    "Run",
    "RunBusyError",
    "RunTrainer",
    "SaveEachEpoch",
    "StopOnRequest",
    "build_model",
    "check_new",
    "claim",
    "default_run_dir",
    "describe_run",
    "export",
    "is_complete",
    "load_checkpoint",
    "load_learner",
    "load_run",
    "load_weights",
    "read_history",
    "read_run_info",
    "read_tensors",
    "resume_point",
    "save_checkpoint",
    "save_initial",
    "save_model",
    "save_tensors",
    "train_run_info",
    "verify_complete",
    "write_history",
    "write_run_info",
    "writing",
]

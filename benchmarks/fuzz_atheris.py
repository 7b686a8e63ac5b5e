"""Coverage-guided fuzzing of mnist-sgd's readers with Atheris (libFuzzer for Python).

Not part of the test suite (``benchmarks/`` is never collected) and Atheris is
not a project dependency: install it in a throwaway venv and borrow the
project's packages (same Python, 3.11 here)::

    python3.11 -m venv /tmp/atheris-venv && /tmp/atheris-venv/bin/pip install atheris
    PYTHONPATH=src:tests/fuzz:.venv/lib/python3.11/site-packages \\
        /tmp/atheris-venv/bin/python benchmarks/fuzz_atheris.py idx -atheris_runs=20000

Targets: ``idx``, ``archive``, ``png``, ``preprocess``, ``model``, ``web``.
Each starts from the same small valid seed files as the Hypothesis targets
(``tests/fuzz/fuzzing.py``), written to a temporary corpus folder. A documented
error (``MnistSgdError``, ``ValueError``) is a pass; any other exception is a
crash that libFuzzer reports with the input that caused it. ``-rss_limit_mb``
(libFuzzer's default 2048) bounds memory and ``-timeout`` (default 1200 s, we
pass 10) catches hangs.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris
import numpy as np
import torch
from fuzzing import digit, idx_bytes, png_bytes, tar_bytes
from safetensors.torch import save as st_save

with atheris.instrument_imports(include=["mnist_sgd"]):  # coverage of our code only
    from mnist_sgd import runs
    from mnist_sgd.config.registry import get_model
    from mnist_sgd.datasets.decode import decode_image
    from mnist_sgd.datasets.folders import read_png_archive
    from mnist_sgd.datasets.idx import read_idx
    from mnist_sgd.datasets.registry import DatasetInfo, Split
    from mnist_sgd.errors import MnistSgdError
    from mnist_sgd.predict.preprocess import prepare_image
    from mnist_sgd.web.shared.images import read_image, seen_image

DOCUMENTED = (MnistSgdError, ValueError)
MODEL_PATH = Path(tempfile.mkdtemp(prefix="atheris-model-")) / "model.safetensors"


def target_idx() -> tuple[Callable[[bytes], object], list[bytes]]:
    seeds = [
        idx_bytes(np.stack([digit(i) for i in range(3)])),
        idx_bytes(np.array([3, 7], np.uint8)),
    ]
    return (lambda data: read_idx(data, "fuzz.idx")), seeds


def _tiny_info() -> DatasetInfo:
    return DatasetInfo(
        name="tiny",
        title="four digits",
        kind="png_archive",
        classes=("3", "7"),
        splits=(Split("train", "train", (1, 1)), Split("valid", "valid", (1, 1))),
        files=(),
        content_sha256="0" * 64,
        order="sorted",
        archive_root="tiny",
    )


def target_archive() -> tuple[Callable[[bytes], object], list[bytes]]:
    info = _tiny_info()
    layout = {
        f"tiny/{s}/{c}/{i}.png": png_bytes(digit(i))
        for i, (s, c) in enumerate([("train", "3"), ("train", "7"), ("valid", "3"), ("valid", "7")])
    }
    return (lambda data: read_png_archive(info, data, "fuzz.tgz")), [
        tar_bytes(layout),
        tar_bytes(layout, compress=False),
    ]


def target_png() -> tuple[Callable[[bytes], object], list[bytes]]:
    return (lambda data: decode_image(data, "fuzz.png")), [
        png_bytes(digit(0)),
        png_bytes(digit(1), fmt="BMP"),
    ]


def _photo() -> np.ndarray:
    return (255 - np.kron(digit(4), np.ones((3, 3), np.uint8))).astype(np.uint8)


def target_preprocess() -> tuple[Callable[[bytes], object], list[bytes]]:
    return prepare_image, [
        png_bytes(digit(0)),
        png_bytes(_photo(), fmt="JPEG"),
        png_bytes(_photo(), fmt="GIF"),
    ]


def target_model() -> tuple[Callable[[bytes], object], list[bytes]]:
    def load(data: bytes) -> object:
        MODEL_PATH.write_bytes(data)
        tensors, _ = runs.read_tensors(MODEL_PATH)
        runs.load_weights(get_model("linear"), tensors, MODEL_PATH)
        return tensors

    state = {k: v.contiguous() for k, v in get_model("linear").state_dict().items()}
    other = {k: v.contiguous() for k, v in get_model("simple_net").state_dict().items()}
    torch.manual_seed(0)
    return load, [st_save(state, metadata={"format": "mnist-sgd/1"}), st_save(other)]


def target_web() -> tuple[Callable[[bytes], object], list[bytes]]:
    def decode(data: bytes) -> object:
        return seen_image(read_image(data, max_pixels=24_000_000))

    return decode, [png_bytes(digit(0)), png_bytes(_photo(), fmt="JPEG")]


TARGETS = {
    "idx": target_idx,
    "archive": target_archive,
    "png": target_png,
    "preprocess": target_preprocess,
    "model": target_model,
    "web": target_web,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: fuzz_atheris.py {{{','.join(TARGETS)}}} [libFuzzer flags]")
    function, seeds = TARGETS[sys.argv[1]]()
    corpus = Path(tempfile.mkdtemp(prefix=f"atheris-{sys.argv[1]}-"))
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)

    def one_input(data: bytes) -> None:
        with contextlib.suppress(*DOCUMENTED):
            function(data)

    flags = list(sys.argv[2:])
    if not any(a.startswith("-timeout=") for a in flags):
        flags.append("-timeout=10")
    atheris.Setup([sys.argv[0], *flags, str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

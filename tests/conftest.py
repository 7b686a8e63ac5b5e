"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Before torch loads: idle OpenMP threads sleep rather than spin, so tests stay
# fast on a machine that other work keeps busy (see src/mnist_sgd/config/threads.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The suite sets its own data options: a user's exported MNIST_SGD_MIRROR or MNIST_SGD_CACHE
# (the README's tour exports one) must not reach the code under test, here or in the
# processes the tests start. The suite's own knobs stay.
TEST_KNOBS = {"MNIST_SGD_SHARED_DATA", "MNIST_SGD_FAULT_SEED", "MNIST_SGD_FAULT_KILLS"}
TEST_KNOBS |= {"MNIST_SGD_WEB_SHOTS"}
for _name in [n for n in os.environ if n.startswith("MNIST_SGD_") and n not in TEST_KNOBS]:
    del os.environ[_name]

import pytest  # noqa: E402

from mnist_sgd.config.memory import keep_freed_memory  # noqa: E402

# As the CLI does (and in-process CLI tests would do anyway, from whichever test came first):
# glibc keeps a training step's freed tensors for the next one (src/mnist_sgd/config/memory.py).
keep_freed_memory()

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MNIST_SGD_SHARED_DATA", REPO.parent / "shared" / "data"))
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def no_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The user's cache folder is one of the session's temporary folders: a test that leaves
    ``cache_dir`` out (the speed probe's answers, ``callbacks.speed``) writes nothing of yours."""
    import platformdirs

    folder = tmp_path_factory.getbasetemp() / "user-cache"
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda name, *_, **__: str(folder / name))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The local copies of the datasets (``../shared/data`` or ``$MNIST_SGD_SHARED_DATA``)."""
    path = SHARED_DATA
    if not (path / "mnist_sample.tgz").is_file():
        pytest.skip(f"no shared data copy at {path} (see the data README)")
    return path


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """Fashion-MNIST's IDX files from Debian's ``dataset-fashion-mnist`` package."""
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no Fashion-MNIST at {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
    return FASHION_DIR


@pytest.fixture(scope="session")
def sample_cache(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data cache that holds MNIST_SAMPLE's tensors, decoded once per session."""
    from mnist_sgd.datasets import DataOptions, load_dataset

    path = tmp_path_factory.getbasetemp() / "sample-cache"
    load_dataset("mnist_sample", DataOptions(mirror=str(shared_data), cache_dir=path))
    return path


@pytest.fixture(scope="session")
def web_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear model trained on real MNIST, once a session (the web API and browser tests)."""
    from web_support import SHARED_DATA, trained_run

    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"no shared MNIST at {SHARED_DATA}")
    base = tmp_path_factory.getbasetemp()
    return trained_run(base / "web-run", SHARED_DATA, base / "web-cache")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium under Playwright (the browser test modules skip without it)."""
    from playwright.sync_api import sync_playwright

    from browser_support import ARGS, CHROMIUM

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def own_digits(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """300 MNIST digits as a user brings them: class folders, a Kaggle CSV pair, IDX files.

    Keys: ``folders`` (``<digit>/<i>.png``), ``csv`` (``label,pixel0..``), ``test_csv`` (the
    same pixels, no label), ``idx`` (``train-*`` 200 and ``t10k-*`` 100 images).
    """
    import numpy as np
    from PIL import Image

    from mnist_sgd.datasets.idx import read_idx, write_idx

    mnist = shared_data / "mnist"
    images = read_idx((mnist / "t10k-images-idx3-ubyte.gz").read_bytes(), "images")[:300]
    labels = read_idx((mnist / "t10k-labels-idx1-ubyte.gz").read_bytes(), "labels")[:300]
    root = tmp_path_factory.mktemp("own")
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (root / "folders" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "folders" / str(label) / f"{i:03d}.png")
    pixels = ",".join(f"pixel{i}" for i in range(784))
    rows = images.reshape(-1, 784).astype(np.int64)
    np.savetxt(
        root / "train.csv",
        np.column_stack([labels, rows]),
        "%d",
        ",",
        header="label," + pixels,
        comments="",
    )
    np.savetxt(root / "test.csv", rows, "%d", ",", header=pixels, comments="")
    (root / "idx").mkdir()
    for prefix, part in (("train", slice(0, 200)), ("t10k", slice(200, 300))):
        (root / "idx" / f"{prefix}-images-idx3-ubyte").write_bytes(write_idx(images[part]))
        (root / "idx" / f"{prefix}-labels-idx1-ubyte").write_bytes(write_idx(labels[part]))
    return {
        "folders": root / "folders",
        "csv": root / "train.csv",
        "test_csv": root / "test.csv",
        "idx": root / "idx",
    }

"""Fuzz the model-file loader: mutated safetensors files and arbitrary headers; never unpickle."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
from fuzzing import documented, fuzz_settings, mutated
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import save as st_save

from mnist_sgd import runs
from mnist_sgd.config.registry import get_model
from mnist_sgd.errors import ModelFileError


def model_file(name: str, n_out: int = 1) -> bytes:
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in get_model(name, n_out=n_out).state_dict().items()}
    return st_save(state, metadata={"format": runs.FORMAT})


SEEDS = st.sampled_from([model_file("linear"), model_file("simple_net"), model_file("linear", 10)])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-model")


@pytest.fixture(scope="module", autouse=True)
def no_unpickling() -> object:
    """Any unpickling while these targets run fails them."""
    with pytest.MonkeyPatch.context() as patch:

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("a model file was unpickled")

        for name in ("load", "loads", "Unpickler"):
            patch.setattr(pickle, name, forbidden)
        patch.setattr(torch, "load", forbidden)
        yield


def check(folder: Path, data: bytes) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(data)

    def load() -> torch.nn.Module:
        tensors, _ = runs.read_tensors(path)
        model = get_model("linear", n_out=1)
        runs.load_weights(model, tensors, path)
        return model

    result = documented(load, max_mb=64)
    if isinstance(result, Exception):
        assert isinstance(result, ModelFileError), result


@fuzz_settings()
@given(data=mutated(SEEDS))
def test_mutated_model_files(folder: Path, data: bytes) -> None:
    check(folder, data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TENSOR_ENTRY = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(["F32", "F64", "I64", "U8", "BOOL", "F16", "BF16", "XX"]),
        "shape": st.lists(st.integers(-1, 2**40), max_size=4),
        "data_offsets": st.lists(st.integers(-1, 2**40), min_size=0, max_size=3),
    }
)


@fuzz_settings()
@given(
    header=st.dictionaries(
        st.sampled_from(["weights", "bias", "__metadata__", "x"]), TENSOR_ENTRY | JSON, max_size=4
    ),
    body=st.binary(max_size=64),
)
def test_arbitrary_headers(folder: Path, header: dict[str, object], body: bytes) -> None:
    text = json.dumps(header).encode()
    check(folder, struct.pack("<Q", len(text)) + text + body)

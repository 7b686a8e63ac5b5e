"""``mnist_sgd.runs`` loading: each wrong file is a clear ModelFileError; nothing is unpickled.

Issue 9 ("model files: safetensors only, never pickle; metadata and tensor
shapes validated before building the model") and issue 4's bad run folders.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

from mnist_sgd import runs
from mnist_sgd.config.registry import get_model
from mnist_sgd.errors import ModelFileError


def write_run(folder: Path, name: str = "linear", n_out: int = 1) -> torch.nn.Module:
    """A minimal valid run folder holding an untrained ``name`` model."""
    torch.manual_seed(0)
    model = get_model(name, n_out=n_out)
    info = {
        "format": runs.FORMAT,
        "dataset": "mnist_sample",
        "classes": ["3", "7"] if n_out == 1 else [str(d) for d in range(n_out)],
        "model": {"name": name, "n_out": n_out, "kwargs": {}, "flat": True},
        "loss": "mnist_loss" if n_out == 1 else "cross_entropy",
    }
    runs.write_run_info(folder, info)
    runs.save_model(folder, model)
    return model


def safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return st_save(
        {k: v.contiguous() for k, v in tensors.items()}, metadata={"format": runs.FORMAT}
    )


def raw_header_file(header: object, data: bytes = b"") -> bytes:
    """A file in safetensors layout: 8-byte little-endian header length, JSON header, data."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


class Boom:
    """Unpickling this writes a marker file: proof that a loader ran code."""

    marker: Path = Path("unused")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "pwned"))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    write_run(folder)
    return folder


def expect_error(run_dir: Path, *fragments: str) -> str:
    with pytest.raises(ModelFileError) as caught:
        runs.load_run(run_dir)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_valid_run_round_trips(run_dir: Path) -> None:
    model = get_model("linear", n_out=1)
    runs.load_weights(model, runs.read_tensors(run_dir / runs.MODEL_FILE)[0], run_dir)
    loaded = runs.load_run(run_dir)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value)
    assert runs.read_tensors(run_dir / runs.MODEL_FILE)[1] == {"format": runs.FORMAT}


def test_a_file_from_another_model(run_dir: Path, tmp_path: Path) -> None:
    other = write_run(tmp_path / "other", "simple_net")
    (run_dir / runs.MODEL_FILE).write_bytes(safetensors_bytes(dict(other.state_dict())))
    expect_error(run_dir, "another model", "missing", "weights")


def test_shapes_that_do_not_match_the_metadata(run_dir: Path) -> None:
    ten_way = get_model("linear", n_out=10)
    (run_dir / runs.MODEL_FILE).write_bytes(safetensors_bytes(dict(ten_way.state_dict())))
    expect_error(run_dir, "(784, 10)", "(784, 1)", "another model")


def test_wrong_dtype(run_dir: Path) -> None:
    state = {k: v.double() for k, v in get_model("linear").state_dict().items()}
    (run_dir / runs.MODEL_FILE).write_bytes(safetensors_bytes(state))
    expect_error(run_dir, "torch.float64", "torch.float32")


@pytest.mark.parametrize("change", ["extra", "missing"])
def test_extra_or_missing_tensors(run_dir: Path, change: str) -> None:
    state = dict(get_model("linear").state_dict())
    if change == "extra":
        state["backdoor"] = torch.zeros(3)
    else:
        del state["bias"]
    (run_dir / runs.MODEL_FILE).write_bytes(safetensors_bytes(state))
    expect_error(run_dir, "backdoor" if change == "extra" else "bias", "another model")


@pytest.mark.parametrize("keep", [0, 1, 7, 8, 20, -1])
def test_truncated_files(run_dir: Path, keep: int) -> None:
    path = run_dir / runs.MODEL_FILE
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    message = expect_error(run_dir, str(path))
    assert any(word in message for word in ("truncated", "too short", "not a valid"))


def test_zero_bytes(run_dir: Path) -> None:
    (run_dir / runs.MODEL_FILE).write_bytes(b"")
    expect_error(run_dir, "0 bytes", "truncated")


def test_absurd_header_size(run_dir: Path) -> None:
    (run_dir / runs.MODEL_FILE).write_bytes(struct.pack("<Q", 2**62) + b"{}" + bytes(64))
    expect_error(run_dir, f"header claims {2**62} bytes")


def test_header_just_past_the_limit(run_dir: Path) -> None:
    size = runs.MAX_HEADER + 1
    (run_dir / runs.MODEL_FILE).write_bytes(struct.pack("<Q", size) + b" " * size)
    expect_error(run_dir, "header claims")


@pytest.mark.parametrize(
    "header",
    [
        [],
        {"weights": {"dtype": "F32", "shape": [784, 1], "data_offsets": [0, 4]}},
        {"weights": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 8]}},
        {"weights": {"dtype": "XYZ", "shape": [2], "data_offsets": [0, 8]}},
        {"__metadata__": {"format": 1}},
    ],
    ids=["list", "short-data", "huge-shape", "bad-dtype", "non-string-metadata"],
)
def test_lying_headers(run_dir: Path, header: object) -> None:
    (run_dir / runs.MODEL_FILE).write_bytes(raw_header_file(header, bytes(8)))
    expect_error(run_dir, "not a valid safetensors file")


def test_header_that_is_not_json(run_dir: Path) -> None:
    (run_dir / runs.MODEL_FILE).write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{[" + bytes(8))
    expect_error(run_dir, "not a valid safetensors file")


def pickles(marker: Path) -> dict[str, bytes]:
    """Files that run code when unpickled: plain pickles and torch.save's zip."""
    Boom.marker = marker
    saved = io.BytesIO()
    torch.save({"weights": Boom()}, saved)
    return {
        "pickle-protocol-0": pickle.dumps(Boom(), protocol=0),
        "pickle-protocol-2": pickle.dumps(Boom(), protocol=2),
        "pickle-protocol-5": pickle.dumps(Boom(), protocol=5),
        "torch.save": saved.getvalue(),
    }


@pytest.mark.parametrize(
    "kind", ["pickle-protocol-0", "pickle-protocol-2", "pickle-protocol-5", "torch.save"]
)
def test_a_renamed_pickle_is_refused_and_never_run(
    run_dir: Path, tmp_path: Path, kind: str
) -> None:
    marker = tmp_path / "pwned.txt"
    (run_dir / runs.MODEL_FILE).write_bytes(pickles(marker)[kind])
    message = expect_error(run_dir, str(run_dir / runs.MODEL_FILE))
    if kind != "pickle-protocol-0":  # protocol 0 is text: it fails the size check instead
        assert "pickle" in message and "safetensors" in message
    assert not marker.exists(), "loading a model file ran code"


def test_a_zip_file(run_dir: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "model.safetensors", safetensors_bytes(dict(get_model("linear").state_dict()))
        )
    (run_dir / runs.MODEL_FILE).write_bytes(buffer.getvalue())
    expect_error(run_dir, "only loads safetensors")


def test_loading_never_calls_an_unpickler(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("model loading must never unpickle")

    for module, name in [
        (pickle, "loads"),
        (pickle, "load"),
        (pickle, "Unpickler"),
        (torch, "load"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    runs.load_run(run_dir)
    runs.SaveEachEpoch(run_dir)  # importing and building the savers needs no pickle either


def test_a_folder_in_place_of_the_model_file(run_dir: Path) -> None:
    (run_dir / runs.MODEL_FILE).unlink()
    (run_dir / runs.MODEL_FILE).mkdir()
    expect_error(run_dir, "is a folder")


def test_missing_model_file(run_dir: Path) -> None:
    (run_dir / runs.MODEL_FILE).unlink()
    expect_error(run_dir, "no such file", "mnist-sgd train")


def test_missing_run_folder(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope", "no such run folder")


def test_a_file_instead_of_a_run_folder(run_dir: Path) -> None:
    expect_error(run_dir / runs.MODEL_FILE, "no such run folder")


def test_folder_without_run_json(run_dir: Path) -> None:
    (run_dir / runs.RUN_FILE).unlink()
    expect_error(run_dir, "holds no run.json")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", "not valid JSON"),
        ("\xff", "not valid JSON"),
        ("[]", "run description"),
        ('{"format": "other/9", "dataset": "x", "classes": [], "model": {}}', "run description"),
        ('{"format": "mnist-sgd/1", "dataset": "x"}', "missing"),
    ],
    ids=["broken", "not-utf8", "a-list", "other-format", "missing-fields"],
)
def test_corrupt_run_json(run_dir: Path, text: str, fragment: str) -> None:
    path = run_dir / runs.RUN_FILE
    path.write_bytes(text.encode("latin-1"))
    expect_error(run_dir, fragment)


@pytest.mark.parametrize(
    "model",
    [
        {"name": "resnet9000", "n_out": 1},
        {"name": "linear", "n_out": "two"},
        {"name": "linear"},
        {"name": "linear", "n_out": 1, "kwargs": {"sneaky": 1}},
        "linear",
    ],
    ids=["unknown-model", "bad-n_out", "no-n_out", "bad-kwargs", "not-a-dict"],
)
def test_run_json_describing_an_impossible_model(run_dir: Path, model: object) -> None:
    info = json.loads((run_dir / runs.RUN_FILE).read_text())
    info["model"] = model
    runs.write_run_info(run_dir, info)
    expect_error(run_dir, "run.json")


def test_corrupt_metrics_file(run_dir: Path) -> None:
    (run_dir / runs.METRICS_FILE).write_text('{"epoch": 0}\n{"epoch": 1, "trai')
    run = runs.load_run(run_dir)  # the model alone: the history is read when asked for
    with pytest.raises(ModelFileError, match=r"metrics.jsonl: corrupt line 2"):
        run.history  # noqa: B018


def test_missing_checkpoint(run_dir: Path) -> None:
    with pytest.raises(ModelFileError, match="nothing to resume"):
        runs.load_checkpoint(run_dir)


def test_checkpoint_without_resume_facts(run_dir: Path) -> None:
    os.replace(run_dir / runs.MODEL_FILE, run_dir / runs.CHECKPOINT_FILE)
    with pytest.raises(ModelFileError, match="no resume facts"):
        runs.load_checkpoint(run_dir)


def test_checkpoint_that_is_a_pickle(run_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    (run_dir / runs.CHECKPOINT_FILE).write_bytes(pickles(marker)["torch.save"])
    with pytest.raises(ModelFileError, match="pickle"):
        runs.load_checkpoint(run_dir)
    assert not marker.exists()


@pytest.mark.parametrize(
    "header_size", [0x380, 0x4B50], ids=["0x80-like-a-pickle", "PK-like-a-zip"]
)
def test_a_valid_file_whose_header_length_looks_like_a_pickle(
    run_dir: Path, header_size: int
) -> None:
    """Regression: a 0x380-byte header starts the file with 0x80 (a pickle's first byte), and a
    0x4B50-byte one with "PK" (a zip's); both are valid safetensors and must load."""
    state = dict(get_model("linear").state_dict())
    base = int.from_bytes(st_save(state, metadata={"pad": ""})[:8], "little")
    for pad in range(header_size - base - 16, header_size - base + 16):
        data = st_save(state, metadata={"pad": "x" * pad})
        if int.from_bytes(data[:8], "little") == header_size:
            break
    (run_dir / runs.MODEL_FILE).write_bytes(data)
    assert data[:1] == b"\x80" if header_size == 0x380 else data[:2] == b"PK"
    runs.load_run(run_dir)

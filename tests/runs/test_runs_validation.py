"""Crafted run folders (issue 15, problems 2 and 4): one line each, bounded memory, no traceback.

Before: ``run.json`` built the model before anything was checked (``n_out``
10**6 allocated 6 GB in ``evaluate``; 10**12, -1, ``hidden=[10**9]`` or a
``run.json`` of ``null`` gave tracebacks) and a deeply nested line of
``metrics.jsonl`` raised ``RecursionError``. Each case runs through the real
CLI (``evaluate``, ``predict``, ``serve``, ``train --resume``) in a child
process that measures its own peak RSS per case (``VmHWM``, reset between
cases through ``/proc/self/clear_refs``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from safetensors.torch import save_file

from mnist_sgd import runs
from mnist_sgd.errors import ModelFileError

ROOT = Path(__file__).resolve().parents[2]
LIMIT_MB = 300
# Runs every case of one command in one process (torch imported once) and prints, per case,
# the exit code, stderr and the peak RSS above the baseline taken just before the case.
MEASURE = r"""
import contextlib, io, json, sys
import torch, mnist_sgd.cli as cli, mnist_sgd.web  # the baseline holds what every case imports

def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

def reset_hwm():
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")

for argv in json.loads(sys.argv[1]):
    reset_hwm()
    base = hwm_kb()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(argv)
    print(json.dumps({"argv": argv, "code": code, "err": err.getvalue(),
                      "peak_mb": (hwm_kb() - base) / 1024}), flush=True)
"""


@pytest.fixture(scope="module")
def trained(sample_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real linear run (dry run: one batch), with run.json, model, metrics and checkpoint."""
    from mnist_sgd import cli

    out = tmp_path_factory.mktemp("trained") / "run"
    args = ["train", "--dry-run", "--quiet", "--no-plots", "--device", "cpu", "--out", str(out)]
    assert cli.main([*args, "--cache-dir", str(sample_cache)]) == 0
    return out


def crafted_cases() -> dict[str, Any]:
    """name -> how to spoil a copy of the trained run (a function of the folder)."""

    def edit(change: Any) -> Any:
        def apply(run_dir: Path) -> None:
            info = json.loads((run_dir / runs.RUN_FILE).read_text())
            change(info)
            (run_dir / runs.RUN_FILE).write_text(json.dumps(info))

        return apply

    def n_out(value: int) -> Any:
        return edit(lambda info: info["model"].update(n_out=value))

    def model(name: str, **kwargs: Any) -> Any:
        def change(info: dict[str, Any]) -> None:
            info["model"].update(name=name, kwargs=kwargs)
            info["train"].update(model=name, model_kwargs=kwargs)

        return edit(change)

    def thousand_classes(info: dict[str, Any]) -> None:
        info["classes"] = [f"c{i}" for i in range(1000)]
        info["model"]["n_out"] = 1000

    def write(name: str, text: str) -> Any:
        return lambda run_dir: (run_dir / name).write_text(text)

    deep = "[" * 200_000 + "]" * 200_000
    return {
        "null": write(runs.RUN_FILE, "null"),
        "n_out-10**6": n_out(10**6),
        "n_out-10**12": n_out(10**12),
        "n_out--1": n_out(-1),
        "n_out-true": edit(lambda info: info["model"].update(n_out=True)),
        "mlp-hidden-10**9": model("mlp", hidden=[10**9]),
        "cnn-widths-10**6": model("cnn", widths=[10**6, 10**6, 10**6]),
        "simple_net-n_hidden-10**8": model("simple_net", n_hidden=10**8),
        "unknown-model": model("resnet9000"),
        "1000-classes-n_out-1000": edit(thousand_classes),
        "classes-not-names": edit(lambda info: info.update(classes=[[1], {"a": 2}])),
        "deep-run.json": write(runs.RUN_FILE, deep),
        "deep-metrics-line": write(runs.METRICS_FILE, '{"epoch": 0}\n' + deep + "\n"),
        "metrics-not-utf8": lambda run_dir: (run_dir / runs.METRICS_FILE).write_bytes(b"\xff\xfe"),
        "huge-run.json": write(runs.RUN_FILE, " " * (2 << 20) + "{}"),
    }


@pytest.fixture(scope="module")
def crafted(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folders = {}
    root = tmp_path_factory.mktemp("crafted")
    for name, spoil in crafted_cases().items():
        folder = root / name
        shutil.copytree(trained, folder)
        spoil(folder)
        folders[name] = folder
    return folders


@pytest.fixture(scope="module")
def digit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("image") / "three.png"
    image = Image.new("L", (28, 28))
    image.paste(255, (10, 4, 16, 24))
    image.save(path)
    return path


def measure(argvs: list[list[str]]) -> list[dict[str, Any]]:
    """Run ``MEASURE`` over ``argvs`` in one child process; one result per argv."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(argvs)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def command(name: str, run_dir: Path, digit: Path, cache: Path) -> list[str]:
    return {
        "evaluate": ["evaluate", str(run_dir), "--cache-dir", str(cache)],
        "predict": ["predict", str(run_dir), str(digit)],
        "serve": ["serve", str(run_dir), "--port", "0"],
        "train --resume": ["train", "--resume", str(run_dir), "--cache-dir", str(cache)],
    }[name]


COMMANDS = ["evaluate", "predict", "serve", "train --resume"]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("name", COMMANDS)
def test_crafted_run_folders_give_one_line_in_bounded_memory(
    name: str, crafted: dict[str, Path], digit: Path, sample_cache: Path
) -> None:
    cases = {
        case: folder
        for case, folder in crafted.items()
        # train --resume rewrites metrics.jsonl; evaluate and predict never read it (issue 29, 1)
        if not (name != "serve" and case.startswith(("deep-metrics", "metrics-")))
    }
    results = measure([command(name, folder, digit, sample_cache) for folder in cases.values()])
    assert len(results) == len(cases)
    for case, result in zip(cases, results, strict=True):
        line = result["err"].strip()
        assert result["code"] == 1, (case, result)
        assert line.startswith("mnist-sgd: error: ") and "\n" not in line, (case, line)
        assert "Traceback" not in line and "RecursionError" not in line, (case, line)
        assert str(cases[case]) in line, (case, line)  # names the file or folder
        assert result["peak_mb"] < LIMIT_MB, (case, result)
        print(f"{name:15} {case:28} peak +{result['peak_mb']:6.1f} MB  {line[-90:]}")


def test_resume_refuses_crafted_checkpoint_facts(trained: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    tensors, facts = runs.load_checkpoint(run_dir)
    spoiled = {
        "deep": "[" * 100_000 + "]" * 100_000,
        "epoch-negative": json.dumps({**facts, "epoch": -1}),
        "epoch-huge": json.dumps({**facts, "epoch": 10**12}),
        "history-short": json.dumps({**facts, "history": []}),
        "not-an-object": "null",
    }
    for name, text in spoiled.items():
        save_file(tensors, str(run_dir / runs.CHECKPOINT_FILE), {"facts": text})
        with pytest.raises(ModelFileError) as caught:
            runs.resume_point(run_dir)
        assert "\n" not in str(caught.value), name
        assert str(run_dir / runs.CHECKPOINT_FILE) in str(caught.value), name


def test_a_checkpoint_of_another_model_is_refused_on_resume(
    trained: Path, tmp_path: Path, sample_cache: Path
) -> None:
    from mnist_sgd import cli

    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    tensors, facts = runs.load_checkpoint(run_dir)
    tensors["model.weights"] = tensors["model.weights"][:100].clone()
    save_file(tensors, str(run_dir / runs.CHECKPOINT_FILE), {"facts": json.dumps(facts)})
    (run_dir / runs.MODEL_FILE).unlink()
    args = ["train", "--resume", str(run_dir), "--cache-dir", str(sample_cache), "--quiet"]
    with pytest.raises(ModelFileError, match="belongs to another model"):
        runs.verify_complete(run_dir, runs.resume_point(run_dir)[1])
    assert cli.main(args) == 1


def test_json_depth_check_is_exact() -> None:
    from mnist_sgd.runs.safejson import depth_exceeds, loads

    assert not depth_exceeds('[[1, {"a": [2]}]]', 4)
    assert depth_exceeds('[[1, {"a": [2]}]]', 3)
    assert not depth_exceeds('["[[[[[[", "]]]]"]', 1)  # brackets inside strings do not count
    assert loads('{"a": "\\"[[[["}', "x", max_depth=1) == {"a": '"[[[['}
    with pytest.raises(ModelFileError, match="not valid JSON"):
        loads("[" * 100_000, "x")

"""One writer per run folder (issue 15, problem 1): real processes racing for the same --out.

Before the lock, two ``train --out SAME`` on cold caches both passed the
"already holds a run" check while they decoded the dataset, both printed
"saved run" and exit 0, and one run was silently lost.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mnist_sgd import runs
from mnist_sgd.errors import ModelFileError
from mnist_sgd.runs.lock import LOCK_FILE

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["--model", "linear", "--epochs", "1", "--bs", "256", "--device", "cpu", "--no-plots"]
HOLD = """
import sys, time
from pathlib import Path
from mnist_sgd.runs import claim
with claim(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def cli(*args: str | Path, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mnist_sgd", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        **kwargs,  # type: ignore[call-overload]
    )


def test_two_trains_into_one_folder_on_cold_caches(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    procs = [
        cli(
            "train",
            *TRAIN,
            "--out",
            out,
            "--mirror",
            shared_data,
            "--offline",
            "--cache-dir",
            tmp_path / f"cold-cache-{i}",
        )
        for i in range(2)
    ]
    results = [(p.pid, *p.communicate(timeout=600), p.returncode) for p in procs]
    codes = sorted(code for *_, code in results)
    assert codes == [0, 1], results
    (winner,) = [r for r in results if r[3] == 0]
    (loser,) = [r for r in results if r[3] == 1]
    assert f"saved run to {out}" in winner[1]
    error = loser[2].strip()
    assert "\n" not in error and "Traceback" not in error, error
    assert f"is being written by process {winner[0]} on host {socket.gethostname()}" in error
    assert "saved run" not in loser[1]
    run = runs.load_run(out)  # the winner's model and run.json, together
    assert run.info["status"] == "done"
    assert all(torch.isfinite(p).all() for p in run.model.parameters())
    assert (out / LOCK_FILE).read_bytes() == b""  # released at exit: no holder any more


def test_a_held_folder_is_refused_and_a_dead_holders_lock_is_taken_over(
    tmp_path: Path, sample_cache: Path
) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = cli("train", *TRAIN, "--dry-run", "--out", out, "--cache-dir", sample_cache)
        _, err = refused.communicate(timeout=300)
        assert refused.returncode == 1, err
        assert f"process {holder.pid} on host {socket.gethostname()}" in err
        assert err.count("\n") == 1
        assert [p.name for p in out.iterdir()] == [LOCK_FILE]  # the refused writer wrote nothing
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert str(holder.pid) in (out / LOCK_FILE).read_text()  # the dead holder's record stays
    taken = cli("train", *TRAIN, "--dry-run", "--out", out, "--cache-dir", sample_cache)
    stdout, err = taken.communicate(timeout=300)
    assert taken.returncode == 0, err
    assert f"saved run to {out}" in stdout
    runs.load_run(out)


def test_resume_of_a_folder_being_written_is_refused(tmp_path: Path, sample_cache: Path) -> None:
    out = tmp_path / "run"
    done = cli("train", *TRAIN, "--dry-run", "--out", out, "--cache-dir", sample_cache)
    assert done.wait(timeout=300) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}
    with runs.claim(out):  # this process is the writer now
        resumed = cli("train", "--resume", out, "--cache-dir", sample_cache)
        _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 1 and f"process {os.getpid()}" in err, err
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}
    assert after == before


def test_claims_nest_in_one_process_but_a_missing_folder_is_not_made(tmp_path: Path) -> None:
    with runs.claim(tmp_path / "a"), runs.claim(tmp_path / "a"):
        assert f'"pid": {os.getpid()}' in (tmp_path / "a" / LOCK_FILE).read_text()
        (tmp_path / "a" / "run.json").write_text("{}")
    assert (tmp_path / "a" / LOCK_FILE).read_text() == ""
    with runs.claim(tmp_path / "b"):
        pass
    assert not (tmp_path / "b").exists()  # made by the claim, left empty: removed again
    with (
        pytest.raises(ModelFileError, match="no such run folder"),
        runs.claim(tmp_path / "missing", create=False),
    ):
        pass
    assert not (tmp_path / "missing").exists()


def test_the_holder_record_reads_well_even_when_damaged(tmp_path: Path) -> None:
    from mnist_sgd.runs.lock import holder

    tmp_path.joinpath(LOCK_FILE).write_text("{not json")
    assert holder(tmp_path) == "another process (it has not said which yet)"
    tmp_path.joinpath(LOCK_FILE).write_text(f'{{"pid": 42, "host": "h", "since": {time.time()}}}')
    assert holder(tmp_path).startswith("process 42 on host h (since ")


@pytest.mark.parametrize("failing", ["pwrite", "ftruncate", "open"])
def test_a_run_folder_that_cannot_be_created_leaves_nothing_and_names_the_file(
    failing: str,
    tmp_path: Path,
    sample_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 29, 8: out of disk at the lock, the line named no file and ``.lock`` stayed."""
    import errno

    from mnist_sgd import cli as mnist_cli

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, failing, full)
    out = tmp_path / "new" / "run"
    (tmp_path / "new").mkdir()
    code = mnist_cli.main(["train", *TRAIN, "--out", str(out), "--cache-dir", str(sample_cache)])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "No space left on device" in err and str(out / LOCK_FILE) in err, err
    assert not out.exists() and list((tmp_path / "new").iterdir()) == []

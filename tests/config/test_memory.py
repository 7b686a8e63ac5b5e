"""config.memory: glibc keeps a step's freed tensors for the next one; the CLI asks it to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mnist_sgd import cli
from mnist_sgd.config.memory import is_glibc

# Page faults while eight 4 MB buffers are allocated, written and freed together 20 times (a
# training step's tensors, as glibc sees them), before and after keep_freed_memory, in a fresh
# process (the setting is process-wide and lasting).
FAULTS = """
import resource, numpy as np
from mnist_sgd.config.memory import keep_freed_memory

def faults():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        buffers = [np.ones(1 << 20, np.float32) for _ in range(8)]  # over glibc's thresholds
        del buffers
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

before = faults()
took = keep_freed_memory()
faults()  # the first round after it grows the heap once
print(before, took, faults())
"""


@pytest.mark.skipif(not is_glibc(), reason="mallopt is glibc's: other C libraries are left as is")
def test_freed_memory_is_kept_for_the_next_allocation() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS], capture_output=True, text=True, timeout=120, check=True
    )
    before, took, after = done.stdout.split()
    assert took == "True"
    # fresh pages for every buffer: 1,024 faults each with 4 KB pages (81,494 in all, measured),
    # at least one with transparent huge pages
    assert int(before) >= 20 * 8, before
    assert int(after) < int(before) // 20, (before, after)


def test_the_users_own_malloc_settings_win() -> None:
    assert not cli.user_tunes_malloc({"PATH": "/usr/bin", "OMP_NUM_THREADS": "2"})
    assert cli.user_tunes_malloc({"MALLOC_ARENA_MAX": "2"})
    assert cli.user_tunes_malloc({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    assert not cli.user_tunes_malloc({"GLIBC_TUNABLES": "glibc.rtld.nns=2"})


@pytest.mark.parametrize(
    ("argv", "env", "calls"),
    [
        (["evaluate", "{missing}"], {}, 1),  # a command with tensors: set up
        (["evaluate", "{missing}"], {"MALLOC_TRIM_THRESHOLD_": "0"}, 0),  # the user's choice
        (["recipes"], {}, 0),  # no tensors, nothing to set up
    ],
)
def test_the_cli_sets_the_allocator_up_for_commands_with_tensors(
    argv: list[str],
    env: dict[str, str],
    calls: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    made: list[bool] = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: made.append(True) or True)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # leave this process's thread count alone
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cli.main([arg.format(missing=tmp_path / "no-run") for arg in argv])
    capsys.readouterr()
    assert len(made) == calls

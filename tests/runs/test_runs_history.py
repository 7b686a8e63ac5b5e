"""``metrics.jsonl`` read in bounded memory and time, whatever it holds (issue 29, 1 and 7).

Before: a 2,000,000-line file (63 MB, under the cap) cost ``evaluate`` 1.1 GB and 67 s,
and a 100,001-digit number gave Python's own "Exceeds the limit (4300 digits)" naming
no file.
"""

from __future__ import annotations

import itertools
import json
import tracemalloc
from pathlib import Path

import pytest

from mnist_sgd import runs
from mnist_sgd.errors import ModelFileError
from mnist_sgd.runs.info import MAX_KEPT


def write_lines(path: Path, count: int) -> None:
    record = '{"epoch": %d, "train_loss": 0.25, "valid_loss": 0.125, "accuracy": 0.875}\n'
    path.write_text("".join(record % (i + 1) for i in range(count)))


def test_a_long_history_is_read_in_bounded_memory(tmp_path: Path) -> None:
    write_lines(tmp_path / runs.METRICS_FILE, 400_000)  # 30 MB; the cap is 64 MiB
    tracemalloc.start()
    try:
        history = runs.read_history(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 << 20, f"peak {peak >> 20} MiB"  # the old reader: over 400 MiB
    assert MAX_KEPT <= len(history) <= 2 * MAX_KEPT + 1
    assert history[0]["epoch"] == 1 and history[-1]["epoch"] == 400_000
    epochs = [r["epoch"] for r in history[:-1]]
    assert len({b - a for a, b in itertools.pairwise(epochs)}) == 1  # evenly thinned


def test_a_short_history_is_read_whole(tmp_path: Path) -> None:
    write_lines(tmp_path / runs.METRICS_FILE, 5000)
    assert [r["epoch"] for r in runs.read_history(tmp_path)] == list(range(1, 5001))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"epoch": 1}\n{"epoch": 2}, {"epoch": 3}\n', "corrupt line 2"),
        ('{"epoch": 1}\n{"a": [1,\n2]}\n', "corrupt line 2"),
        ('{"epoch": 1,\n"x": 2}\n', "corrupt line 1"),
        ('{"epoch": 1}\n{"a": {"b": 1}}\n', "line 2: not a record of numbers"),
        ('{"epoch": 1}\n[1]\n', "line 2: not a record of numbers"),
        ('{"a": 1' + "0" * 5000 + "}\n", "corrupt line 1"),
        ('{"a": 1' + "0" * 100_000 + "}\n", "line 1: longer than any record"),
    ],
    ids=["two-in-a-line", "split-list", "split-record", "nested", "a-list", "5000-digits", "huge"],
)
def test_a_bad_history_names_the_file_and_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / runs.METRICS_FILE
    path.write_text('{"epoch": 0}\n' * 5000 + text if "line 1" not in words else text)
    with pytest.raises(ModelFileError) as caught:
        runs.read_history(tmp_path)
    message = str(caught.value)
    if "line 1" not in words:  # after 5,000 good lines: the line counted across batches
        words = words.replace("line 2", "line 5002")
    assert str(path) in message and words in message and "\n" not in message, message


def test_a_number_too_long_for_python_in_run_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / runs.RUN_FILE).write_text(json.dumps({"format": 1}).replace("1", "1" * 5000))
    with pytest.raises(ModelFileError) as caught:
        runs.read_run_info(tmp_path)
    assert str(tmp_path / runs.RUN_FILE) in str(caught.value)


@pytest.mark.parametrize("end", ["\n", "\r\n", "\n\n"], ids=["lf", "crlf", "blank-lines"])
def test_lines_across_blocks_are_all_read(tmp_path: Path, end: str) -> None:
    """The reader takes the file half a megabyte at a time: lines cut by a block's end, lines
    written with CRLF or with blank lines between, and a last line with no newline."""
    lines = [json.dumps({"epoch": i + 1, "valid_loss": 1 / (i + 1)}) for i in range(9000)]
    (tmp_path / runs.METRICS_FILE).write_bytes(end.join(lines).encode())
    history = runs.read_history(tmp_path)
    assert [r["epoch"] for r in history] == list(range(1, 9001))
    assert history[-1]["valid_loss"] == 1 / 9000


def test_a_long_line_past_the_first_block_is_named(tmp_path: Path) -> None:
    good = '{"epoch": 1}\n' * 50_000  # 650 KB: past the first block
    (tmp_path / runs.METRICS_FILE).write_text(good + '{"a": "' + "x" * 70_000 + '"}\n')
    with pytest.raises(ModelFileError, match="line 50001: longer than any record"):
        runs.read_history(tmp_path)

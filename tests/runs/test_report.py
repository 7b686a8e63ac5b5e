"""``mnist-sgd report``: every plot of a real short run, and one self-contained HTML page."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from mnist_sgd.cli import main


@pytest.fixture(scope="module")
def run_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A 3-epoch seed run on the real MNIST_SAMPLE, and the data flags that found it."""
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("runs") / "seed"
    flags = ["--mirror", str(shared_data), "--cache-dir", str(cache), "--offline"]
    assert main(["train", "--epochs", "3", "--out", str(out), "--quiet", *flags]) == 0
    return out, flags


def test_train_writes_the_curves(run_dir: tuple[Path, list[str]]) -> None:
    path = run_dir[0] / "plots" / "history.png"
    deadline = time.monotonic() + 60  # drawn by a detached process after train returns
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_writes_every_plot_and_an_offline_page(
    run_dir: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, flags = run_dir
    assert main(["report", str(out), *flags]) == 0
    assert "report.html" in capsys.readouterr().out
    names = {p.name for p in (out / "plots").glob("*.png")}
    assert names == {"history.png", "weights.png", "confusion.png", "mistakes.png", "samples.png"}
    for name in names:
        with Image.open(out / "plots" / name) as image:
            assert image.format == "PNG" and image.width >= 300 and image.height >= 200
    page = (out / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(names)
    assert not re.search(r'(src|href)="(https?:)?//', page), (
        "the report must not load anything remote"
    )
    assert page.count("<tr>") >= 3 + 1  # the epoch table: header and three epochs (plus options)


def test_report_on_a_missing_run_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such run folder" in err


def report_peak_mb(run: Path, flags: list[str]) -> float:
    """``mnist-sgd report RUN`` in a fresh process: its peak RSS in MB."""
    code = (
        "import resource, sys\nfrom mnist_sgd.cli import main\n"
        "assert main(sys.argv[1:]) == 0\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "report", str(run), *flags],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(done.stdout.split()[-1])


@pytest.mark.slow
def test_report_on_a_63_mb_history_costs_little_more_memory(
    run_dir: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """Issue 29, 1: 2,000,000 legal lines (63 MB, under the cap) cost 389 MB and 8.6 s more."""
    out, flags = run_dir
    big = tmp_path / "big"
    shutil.copytree(out, big, ignore=shutil.ignore_patterns("plots", "report.html", ".lock"))
    record = '{"epoch":%d,"accuracy":0.5}\n'
    with (big / "metrics.jsonl").open("w") as handle:
        for start in range(0, 2_000_000, 100_000):
            handle.write("".join(record % (i + 1) for i in range(start, start + 100_000)))
    assert 60 << 20 < (big / "metrics.jsonl").stat().st_size < 64 << 20
    baseline, peak = report_peak_mb(out, flags), report_peak_mb(big, flags)
    assert peak - baseline < 100, f"{peak:.0f} MB against {baseline:.0f} MB"
    page = (big / "report.html").read_text(encoding="utf-8")
    assert "<td>2000000</td>" in page  # the last epoch, always kept
    assert page.count("<tr>") < 11_000  # the thinned history, not 2,000,000 rows


def test_report_in_korean_and_in_english(
    run_dir: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--lang ko``: the page, its tables' heads and its pictures in Korean, its Hangul in a
    NanumGothic cut to the page's syllables and embedded; ``--lang en``: no Hangul at all."""
    out, flags = run_dir
    hangul = re.compile("[\uac00-\ud7a3]")
    assert main(["report", str(out), "--lang", "ko", *flags]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="ko">' in page and "<h2>옵션</h2>" in page and "<th>검증 손실</th>" in page
    assert "에폭마다의 손실과 정확도" in page  # a picture's caption
    font = re.search(r'url\("data:font/ttf;base64,([A-Za-z0-9+/=]+)"\)', page)
    assert font is not None and 1_000 < len(font.group(1)) < 200_000  # a cut, not the 2 MB font
    assert main(["report", str(out), "--lang", "en", *flags]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and not hangul.search(page) and "@font-face" not in page
    capsys.readouterr()


def test_report_lang_defaults_to_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist_sgd.cli.report import default_lang

    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    assert default_lang() == "en"
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    assert default_lang() == "ko"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert default_lang() == "en"

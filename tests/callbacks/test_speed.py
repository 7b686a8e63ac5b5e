"""bf16 and threads by a probe (``callbacks.speed``): its answers simulated, never timed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from mnist_sgd import cli
from mnist_sgd.callbacks import speed
from mnist_sgd.callbacks.precision import MixedPrecision
from mnist_sgd.callbacks.speed import Speed, SpeedCache, choose, label, native_bf16, pick
from mnist_sgd.config.build import choose_speed
from mnist_sgd.config.recipes import get_recipe
from mnist_sgd.config.threads import thread_candidates
from mnist_sgd.runs import RunTrainer

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


class FakeProbe:
    """A machine whose steps take ``ms[(threads, bf16)]``; counts how often it is probed."""

    def __init__(self, ms: dict[tuple[int, bool], float]) -> None:
        self.ms, self.calls = ms, 0

    def __call__(self, make_model, xb, candidates: Sequence[tuple[int, bool]]) -> dict[str, float]:  # type: ignore[no-untyped-def]
        self.calls += 1
        return {label(c): self.ms[c] for c in candidates}


BF16_FASTER = {(1, False): 10.0, (1, True): 7.0, (2, False): 9.5, (2, True): 6.8}
FLOAT32_FASTER = {(1, False): 10.0, (1, True): 25.0, (2, False): 9.5, (2, True): 20.0}


def make_model() -> torch.nn.Module:
    return torch.nn.Linear(784, 10)


def test_pick_wants_a_clear_margin_except_for_native_bf16() -> None:
    candidates = [(1, False), (1, True), (2, False)]
    assert pick({"1 float32": 10.0, "1 bf16": 9.5, "2 float32": 9.6}, candidates, False) == (
        1,
        False,
    )
    assert pick({"1 float32": 10.0, "1 bf16": 9.5, "2 float32": 9.6}, candidates, True) == (1, True)
    assert pick({"1 float32": 10.0, "1 bf16": 8.0, "2 float32": 9.6}, candidates, False) == (
        1,
        True,
    )
    assert pick({"1 float32": 10.0, "1 bf16": 11.0, "2 float32": 8.0}, candidates, True) == (
        2,
        False,
    )
    assert native_bf16({"avx512f", "avx512_bf16"}) and native_bf16({"amx_bf16"})
    assert not native_bf16({"avx512f", "avx512bw"})


def test_thread_candidates_start_with_todays_rule() -> None:
    assert thread_candidates(2, None) == [1, 2]
    assert thread_candidates(1, None) == [1]
    assert thread_candidates(64, 2.0) == [1, 2]
    assert thread_candidates(8, None) == [7, 4, 8]


def test_the_probes_choice_is_cached_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(speed, "probe", fake := FakeProbe(BF16_FASTER))
    cache = SpeedCache(tmp_path, "this-machine")
    xb = torch.rand(4, 784)
    first = choose(make_model, xb, key="linear", threads=[1, 2], cache=cache)
    again = choose(make_model, xb, key="linear", threads=[1, 2], cache=cache)
    assert fake.calls == 1
    assert (first.bf16, first.threads) == (again.bf16, again.threads) == (True, 1)
    assert first.why.startswith("probe") and again.why.startswith("cached probe")
    assert again.step_ms == first.step_ms and again.seconds == 0.0
    assert "linear" in next(iter(json.loads(cache.path.read_text())))
    choose(make_model, xb, key="other model", threads=[1, 2], cache=cache)
    assert fake.calls == 2  # per model
    assert choose(make_model, xb, key="linear", threads=[1, 2], cache=SpeedCache(tmp_path, "other"))
    assert fake.calls == 3  # per machine


def test_an_explicit_choice_overrides_the_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(speed, "probe", fake := FakeProbe(BF16_FASTER))
    cache = SpeedCache(tmp_path, "m")
    xb = torch.rand(4, 784)
    assert choose(make_model, xb, key="k", threads=[1, 2], cache=cache).bf16
    forced = choose(make_model, xb, key="k", threads=[1, 2], bf16=False, cache=cache)
    assert not forced.bf16 and fake.calls == 2  # the cached bf16 answer is not this one
    monkeypatch.setattr(speed, "probe", fake := FakeProbe(FLOAT32_FASTER))
    both = choose(make_model, xb, key="k2", threads=[2], bf16=True, cache=cache)
    assert (both.bf16, both.threads, both.why) == (True, 2, "as asked") and fake.calls == 0
    unasked = choose(make_model, xb, key="k3", threads=[1], wish=False, cache=cache)
    assert not unasked.bf16 and fake.calls == 0


def test_a_machine_whose_probe_says_float32_trains_in_float32(
    sample_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnist_sgd.datasets import DataOptions, load_dataset

    monkeypatch.setattr(speed, "probe", FakeProbe(FLOAT32_FASTER))
    monkeypatch.setattr("mnist_sgd.config.build.usable_cpus", lambda: 2)  # 1 and 2 threads
    config = get_recipe("mnist-speedrun")
    assert config.bf16
    data = load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))
    chosen = choose_speed(config, data, torch.device("cpu"), cache_dir=tmp_path)
    assert (chosen.bf16, chosen.threads) == (False, 1)
    trainer = RunTrainer(tmp_path / "run", config, data, speed=chosen)
    assert not any(isinstance(cb, MixedPrecision) for cb in trainer.learn.cbs)
    assert trainer.info["speed"]["bf16"] is False and trainer.info["speed"]["threads"] == 1
    assert Speed(**trainer.info["speed"]).line().startswith("precision: float32, 1 thread (probe")


@pytest.mark.parametrize(
    ("flag", "bf16"), [([], False), (["--bf16"], True), (["--no-bf16"], False)]
)
def test_train_says_the_choice_in_one_line_and_records_it(
    flag: list[str],
    bf16: bool,
    sample_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(speed, "probe", FakeProbe(FLOAT32_FASTER))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("mnist_sgd.config.build.usable_cpus", lambda: 2)  # 1 and 2 threads
    cache = tmp_path / "cache"
    shutil.copytree(sample_cache, cache)
    run_dir = tmp_path / "run"
    argv = ["train", "--recipe", "mnist-speedrun", "--dataset", "mnist_sample", "--dry-run"]
    argv += ["--out", str(run_dir), "--no-plots", "--device", "cpu", "--cache-dir", str(cache)]
    threads = torch.get_num_threads()
    try:
        assert cli.main([*argv, *flag, "--mirror", str(SHARED_DATA)]) == 0
    finally:
        torch.set_num_threads(threads)
    said = [line for line in capsys.readouterr().err.splitlines() if "precision:" in line]
    assert len(said) == 1 and said[0].startswith(f"precision: {'bf16' if bf16 else 'float32'}")
    recorded = json.loads((run_dir / "run.json").read_text())["speed"]
    assert recorded["bf16"] is bf16 and {k.split()[0] for k in recorded["step_ms"]} == {"1", "2"}

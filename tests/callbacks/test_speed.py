"""bf16 and threads, the one decision (``callbacks.speed``): its probe simulated, never timed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from mnist_sgd import cli
from mnist_sgd.callbacks import speed
from mnist_sgd.callbacks.precision import MixedPrecision
from mnist_sgd.callbacks.speed import Speed, label, multiply_adds, pick
from mnist_sgd.config.build import build_learner, choose_speed
from mnist_sgd.config.recipes import get_recipe
from mnist_sgd.config.registry import get_model
from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.runs import RunTrainer

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

BF16_FASTER = {(1, False): 10.0, (1, True): 7.0, (2, False): 9.5, (2, True): 6.8}
FLOAT32_FASTER = {(1, False): 10.0, (1, True): 25.0, (2, False): 9.5, (2, True): 20.0}
TWO_THREADS_FASTER = {(1, False): 10.0, (1, True): 12.0, (2, False): 6.0, (2, True): 7.0}


class FakeProbe:
    """A machine whose steps take ``ms[(threads, bf16)]``; counts how often it is probed."""

    def __init__(self, ms: dict[tuple[int, bool], float], timed: int | None = None) -> None:
        self.ms, self.calls, self.timed = ms, 0, timed
        self.batches: list[int] = []

    def __call__(
        self, make_model: Any, xb: torch.Tensor, candidates: Sequence[tuple[int, bool]]
    ) -> tuple[dict[str, float], bool]:
        self.calls += 1
        self.batches.append(len(xb))
        # a count other than 1 or 2 (torch's own, on a bigger machine) times as 1 thread
        timed = candidates[: self.timed]
        step_ms = {label(c): self.ms.get(c, self.ms[(1, c[1])]) for c in timed}
        return step_ms, len(timed) == len(candidates)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SimpleNamespace:
    """This machine made 2 cores with torch's bf16 kernels and no native bf16 flags; the
    probe's answer is ``machine.probe`` (set ``machine.native = True`` for the flags); the
    user's cache folder, this test's own."""
    import platformdirs

    here = SimpleNamespace(probe=FakeProbe(FLOAT32_FASTER), native=False)
    user_cache = tmp_path / "user-cache"
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda name, *_, **__: str(user_cache))
    monkeypatch.setattr(speed, "measure", lambda *a: here.probe(*a))
    monkeypatch.setattr(speed, "native_bf16", lambda flags=None: here.native)
    monkeypatch.setattr(speed, "bf16_kernels", lambda: True)
    monkeypatch.setattr("mnist_sgd.config.build.usable_cpus", lambda: 2)  # tries 1 and 2
    monkeypatch.setattr("mnist_sgd.config.build.cpu_quota", lambda: None)
    return here


def tiny_data(n: int = 64) -> Any:
    """Ten classes of random digits, shaped as ``MnistData`` (enough to build a learner)."""
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return SimpleNamespace(
        name="mnist",
        classes=tuple("0123456789"),
        train_images=images,
        train_labels=labels,
        valid_images=images[:32],
        valid_labels=labels[:32],
    )


def uses_bf16(learn: Any) -> bool:
    return any(isinstance(cb, MixedPrecision) for cb in learn.cbs)


def test_pick_needs_a_clear_margin_unless_the_cpu_flags_agree() -> None:
    candidates = [(1, False), (1, True), (2, False)]
    slightly = {"1 float32": 10.0, "1 bf16": 9.5, "2 float32": 9.6}
    assert pick(slightly, candidates, native=False) == (1, False)
    assert pick(slightly, candidates, native=True) == (1, True)  # flags and probe agree
    clearly = {"1 float32": 10.0, "1 bf16": 8.0, "2 float32": 9.6}
    assert pick(clearly, candidates, native=False) == (1, True)  # no flags: 10% or more
    threads = {"1 float32": 10.0, "1 bf16": 11.0, "2 float32": 8.0}
    assert pick(threads, candidates, native=True) == (2, False)
    assert pick({"1 float32": 10.0}, candidates, native=True) == (1, False)  # cut short


def test_the_cpu_flags_and_model_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu avx512f avx512_bf16\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu avx512f avx512_bf16\n"
    )
    name, flags = speed.cpu_info(cpuinfo)
    assert name == "AMD EPYC 9B14" and speed.native_bf16(flags)
    assert speed.native_bf16({"amx_bf16"}) and not speed.native_bf16({"avx512f", "avx512bw"})
    assert speed.cpu_info(tmp_path / "missing") == ("", frozenset())


def test_multiply_adds_count_weights_and_conv_positions() -> None:
    assert multiply_adds(get_model("linear"), torch.zeros(1, 784)) == 784
    assert multiply_adds(get_model("simple_net"), torch.zeros(1, 784)) == 784 * 30 + 30
    conv = multiply_adds(get_model("cnn_fast", n_out=10), torch.zeros(1, 1, 28, 28))
    assert conv == 457_248  # the 0.46 M multiply-adds an image
    from mnist_sgd.config.registry import MODELS
    from mnist_sgd.core.model import takes_flat_input

    for name in MODELS:  # every registered net can be counted, norms and dropout included
        model = get_model(name, n_out=10)
        one = torch.zeros(1, 784) if takes_flat_input(model) else torch.zeros(1, 1, 28, 28)
        assert multiply_adds(model, one) > 0 and model.training


def test_nothing_to_decide_costs_nothing(machine: SimpleNamespace, tmp_path: Path) -> None:
    """The seed (linear, bf16 not asked): a small model takes one thread, and nothing is probed."""
    seed = replace(TrainConfig(), dataset="mnist", loss="cross_entropy")
    chosen = choose_speed(seed, tiny_data(), cache_dir=tmp_path)
    assert (chosen.bf16, chosen.threads, chosen.threads_by) == (False, 1, "rule")
    assert chosen.line() == "speed: float32, 1 thread (small model)"
    one_core = choose_speed(get_recipe("mnist-fast"), tiny_data(), thread_options=[1])
    assert (one_core.threads, one_core.threads_by) == (1, "rule")
    assert machine.probe.calls == 0 and not (tmp_path / "speed").exists()


def test_the_probes_choice_is_cached_and_a_second_build_does_not_probe(
    machine: SimpleNamespace, tmp_path: Path
) -> None:
    machine.probe = FakeProbe(TWO_THREADS_FASTER)
    config, data = get_recipe("mnist-speedrun"), tiny_data()
    first = choose_speed(config, data, cache_dir=tmp_path)
    again = choose_speed(config, data, cache_dir=tmp_path)
    assert machine.probe.calls == 1
    assert (first.bf16, first.threads) == (again.bf16, again.threads) == (False, 2)
    assert (first.precision_by, first.threads_by, first.kept) == ("probe", "probe", True)
    assert (again.precision_by, again.threads_by) == ("cache", "cache")
    assert again.step_ms == first.step_ms and again.probe_s == 0.0
    assert first.line().startswith("speed: float32, 2 threads (probed on this CPU in ")
    assert first.line().endswith(" s; cached)")
    assert again.line() == "speed: float32, 2 threads (probed once on this CPU; cached)"
    kept = json.loads(next((tmp_path / "speed").glob("*.json")).read_text())
    assert kept["version"] == speed.CACHE_VERSION and next(iter(kept["entries"])).startswith(
        f"{config.model} "
    )
    choose_speed(replace(config, bs=64), data, cache_dir=tmp_path)
    assert machine.probe.calls == 2  # per model and batch
    first_batch, second_batch = machine.probe.batches
    assert second_batch == 64 and 64 < first_batch <= 128  # bs, or what PROBE_MACS allows


@pytest.mark.parametrize(
    "text",
    ["{not json", "[1, 2]", '{"version": 99, "entries": {}}', "\udcff", "BAD ENTRY"],
    ids=["corrupt", "a list", "another version", "not utf-8", "a bad entry"],
)
def test_a_corrupt_or_foreign_cache_file_is_probed_again(
    text: str, machine: SimpleNamespace, tmp_path: Path
) -> None:
    config, data = get_recipe("mnist-speedrun"), tiny_data()
    first = choose_speed(config, data, cache_dir=tmp_path)
    path = next((tmp_path / "speed").glob("*.json"))
    if text == "BAD ENTRY":
        kept = json.loads(path.read_text())
        kept["entries"] = {k: {"threads": "two", "bf16": 1} for k in kept["entries"]}
        path.write_text(json.dumps(kept))
    else:
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
    again = choose_speed(config, data, cache_dir=tmp_path)
    assert machine.probe.calls == 2 and again.precision_by == "probe"
    assert (again.bf16, again.threads) == (first.bf16, first.threads)
    assert json.loads(path.read_text())["version"] == speed.CACHE_VERSION  # written whole again


def test_a_cache_folder_that_cannot_be_written_costs_only_the_next_probe(
    machine: SimpleNamespace, tmp_path: Path
) -> None:
    (tmp_path / "speed").write_text("a file where the folder goes")
    chosen = choose_speed(get_recipe("mnist-speedrun"), tiny_data(), cache_dir=tmp_path)
    assert not chosen.kept and chosen.line().endswith(" s; not cached)")


def test_a_probe_cut_short_is_used_once_and_not_cached(
    machine: SimpleNamespace, tmp_path: Path
) -> None:
    machine.probe = FakeProbe(BF16_FASTER, timed=1)  # only the first candidate was timed
    config = get_recipe("mnist-speedrun")
    chosen = choose_speed(config, tiny_data(), cache_dir=tmp_path)
    assert (chosen.bf16, chosen.threads, chosen.kept) == (False, 1, False)
    assert chosen.line().endswith(" s; not cached; probe cut short)")
    choose_speed(config, tiny_data(), cache_dir=tmp_path)
    assert machine.probe.calls == 2


def test_an_explicit_choice_overrides_the_probe(machine: SimpleNamespace, tmp_path: Path) -> None:
    machine.probe = FakeProbe(BF16_FASTER)
    machine.native = True
    config, data = get_recipe("mnist-speedrun"), tiny_data()
    assert choose_speed(config, data, cache_dir=tmp_path).bf16  # cached: bf16
    forced = choose_speed(config, data, bf16=False, cache_dir=tmp_path)
    assert (forced.bf16, forced.precision_by) == (False, "user")
    assert forced.line().startswith("speed: float32, ") and "--no-bf16" in forced.line()
    both = choose_speed(config, data, bf16=True, threads=2, cache_dir=tmp_path)
    assert (both.bf16, both.threads, both.precision_by, both.threads_by) == (
        True,
        2,
        "user",
        "user",
    )
    assert both.line() == "speed: bf16, 2 threads (--bf16; OMP_NUM_THREADS)"
    plain = choose_speed(replace(config, bf16=False), data, threads=2, cache_dir=tmp_path)
    assert (plain.bf16, plain.precision_by) == (False, "rule")
    assert machine.probe.calls == 2  # the first, and --no-bf16 (only the threads left to probe)


@pytest.mark.parametrize("recipe", ["mnist-speedrun", "fashion-best"])
def test_a_machine_whose_probe_says_float32_trains_in_float32(
    recipe: str, machine: SimpleNamespace, tmp_path: Path
) -> None:
    """Every path to a Learner goes through the decision: here build_learner's own."""
    machine.native = True  # even with the flags: the probe must agree
    config = replace(get_recipe(recipe), bs=32)
    assert config.bf16
    learn = build_learner(config, tiny_data())
    assert not uses_bf16(learn) and machine.probe.calls == 1
    machine.probe = FakeProbe(BF16_FASTER)
    assert uses_bf16(build_learner(replace(config, bs=16), tiny_data()))


@pytest.mark.parametrize(
    ("native", "bf16_ms", "bf16"), [(False, 9.5, False), (False, 7.0, True), (True, 9.5, True)]
)
def test_without_the_native_flags_bf16_must_be_clearly_faster(
    native: bool, bf16_ms: float, bf16: bool, machine: SimpleNamespace, tmp_path: Path
) -> None:
    machine.native = native
    machine.probe = FakeProbe(
        {(1, False): 10.0, (1, True): bf16_ms, (2, False): 20.0, (2, True): 20.0}
    )
    assert choose_speed(get_recipe("mnist-speedrun"), tiny_data(), cache_dir=tmp_path).bf16 is bf16


def test_a_data_parallel_worker_reads_the_cache_but_never_probes(
    machine: SimpleNamespace, tmp_path: Path
) -> None:
    machine.probe = FakeProbe(BF16_FASTER)
    config, data = get_recipe("mnist-speedrun"), tiny_data()
    worker = choose_speed(config, data, threads=1, cache_dir=tmp_path, may_probe=False)
    assert (worker.bf16, worker.precision_by, machine.probe.calls) == (False, "rule", 0)
    assert "not probed in a worker" in worker.line()
    choose_speed(config, data, threads=1, cache_dir=tmp_path)  # the launcher's own run
    worker = choose_speed(config, data, threads=1, cache_dir=tmp_path, may_probe=False)
    assert (worker.bf16, worker.precision_by, machine.probe.calls) == (True, "cache", 1)


def test_the_probe_takes_one_step_when_its_budget_is_spent() -> None:
    """Budget 0: the first candidate's warm-up step only (its time stands for it)."""
    threads = torch.get_num_threads()
    candidates = [(1, False), (1, True)]
    steps, complete = speed.measure(make_linear, torch.rand(4, 784), candidates, 0.0)
    assert set(steps) == {"1 float32"} and not complete
    assert torch.get_num_threads() == threads
    both, complete = speed.measure(make_linear, torch.rand(4, 784), candidates, 60.0)
    assert set(both) == {"1 float32", "1 bf16"} and complete and min(both.values()) > 0


def test_bf16_on_more_threads_is_not_tried_where_they_lose_in_float32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The step that took over a second on a busy 2-core machine is ruled out unstepped."""
    stepped: list[tuple[int, bool]] = []

    def fake_step(model: Any, xb: torch.Tensor, bf16: bool) -> float:
        stepped.append((torch.get_num_threads(), bf16))
        return {(1, False): 0.010, (1, True): 0.007, (2, False): 0.020}[stepped[-1]]

    monkeypatch.setattr(speed, "timed_step", fake_step)
    candidates = [(1, False), (1, True), (2, False), (2, True)]
    steps, complete = speed.measure(make_linear, torch.rand(4, 784), candidates, 60.0)
    assert (
        complete and (2, True) not in stepped and set(steps) == {"1 float32", "1 bf16", "2 float32"}
    )
    assert pick(steps, candidates, native=True) == (1, True)


def make_linear() -> torch.nn.Module:
    return torch.nn.Linear(784, 10)


def test_run_json_records_the_choice(
    machine: SimpleNamespace, sample_cache: Path, tmp_path: Path
) -> None:
    from mnist_sgd.datasets import DataOptions, load_dataset

    data = load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))
    config = replace(get_recipe("mnist-speedrun"), dataset="mnist_sample")
    trainer = RunTrainer(tmp_path / "run", config, data)  # the studio's way: no speed given
    assert not uses_bf16(trainer.learn)
    recorded = trainer.info["speed"]
    assert recorded["bf16"] is False and recorded["precision_by"] == "probe"
    assert recorded["threads_by"] == "rule"  # the library leaves torch's count alone
    assert Speed(**recorded).line().startswith("speed: float32, ")


def test_the_studio_keeps_the_answer_in_its_own_cache_folder(
    machine: SimpleNamespace, sample_cache: Path, tmp_path: Path
) -> None:
    """``studio --cache-dir DIR``: the probe's answer goes to DIR/speed, not the user's."""
    from mnist_sgd.datasets import DataOptions, load_dataset
    from mnist_sgd.web.studio.trainings import Studio

    data = load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))
    studio = Studio(tmp_path / "runs", lambda name: data, cache_dir=tmp_path / "own-cache")
    config = replace(get_recipe("mnist-speedrun"), dataset="mnist_sample", epochs=1)
    training = studio.start(config)
    training.thread.join(timeout=300)
    assert training.state in ("done", "stuck"), (training.state, training.error)
    assert machine.probe.calls == 1
    assert list((tmp_path / "own-cache" / "speed").glob("*.json"))
    assert not (tmp_path / "user-cache" / "speed").exists()


@pytest.mark.parametrize(
    ("flag", "omp", "said"),
    [
        ([], None, "speed: float32, 1 thread (probed on this CPU in "),
        (["--bf16"], None, "speed: bf16, 2 threads (--bf16; probed on this CPU in "),
        (["--no-bf16"], "1", "speed: float32, 1 thread (--no-bf16; OMP_NUM_THREADS)"),
    ],
)
def test_train_says_the_choice_in_one_line_and_records_it(
    flag: list[str],
    omp: str | None,
    said: str,
    machine: SimpleNamespace,
    sample_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    cache = tmp_path / "cache"
    shutil.copytree(sample_cache, cache)
    argv = ["train", "--recipe", "mnist-speedrun", "--dataset", "mnist_sample", "--dry-run"]
    argv += ["--no-plots", "--device", "cpu", "--cache-dir", str(cache), *flag]
    threads = torch.get_num_threads()
    if omp is not None:
        torch.set_num_threads(int(omp))  # what torch takes from it when it starts
    try:
        for run in ("first", "again"):
            out = ["--out", str(tmp_path / run), "--mirror", str(SHARED_DATA)]
            assert cli.main([*argv, *out]) == 0
            lines = [s for s in capsys.readouterr().err.splitlines() if s.startswith("speed:")]
            assert len(lines) == 1
            if run == "first":
                assert lines[0].startswith(said)
    finally:
        torch.set_num_threads(threads)
    assert machine.probe.calls == (0 if omp else 1)  # the second run read the cache
    if not omp:
        assert lines[0].endswith("(probed once on this CPU; cached)") or "--bf16" in lines[0]
    recorded = json.loads((tmp_path / "first" / "run.json").read_text())["speed"]
    assert recorded["bf16"] is ("--bf16" in flag)
    assert recorded["threads_by"] == ("user" if omp else "probe")


def test_bf16_is_turned_on_in_one_place_after_the_decision() -> None:
    """No path trains in bf16 by itself: ``MixedPrecision()`` is made only by build_learner,
    whose ``bf16`` comes from ``choose_speed`` when not given; autocast only in precision.py
    (the mechanism) and speed.py (the probe)."""
    src = Path(__file__).resolve().parents[2] / "src" / "mnist_sgd"
    made = {
        p.relative_to(src).as_posix()
        for p in src.rglob("*.py")
        if "MixedPrecision(" in p.read_text()
    }
    autocast = {
        p.relative_to(src).as_posix()
        for p in src.rglob("*.py")
        if "autocast(" in p.read_text() or "autocast_forward(" in p.read_text()
    }
    assert made == {"config/build.py", "callbacks/precision.py"}
    assert autocast == {"callbacks/precision.py", "callbacks/speed.py"}

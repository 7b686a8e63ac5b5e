"""``mnist-sgd bench`` and the fast paths it measures (issue 6).

The benchmark itself runs once, minimally (``--quick --dry-run``), and must
print a row for every benchmark; no test looks at a time. The fast paths
must give the numbers the plain paths give: our DataLoader the batches of
torch's for the same permutation, ``Learner.fit`` the weights of a bare loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor

from mnist_sgd import (
    SGD,
    BasicOptim,
    DataLoader,
    DataLoaders,
    ImageDataset,
    Learner,
    Linear1,
    mnist_loss,
    seed_tensors,
    simple_net,
)
from mnist_sgd.cli import main
from mnist_sgd.cli.bench import chosen, find_benchmarks
from mnist_sgd.config.threads import cpu_quota, sensible_threads
from mnist_sgd.core.data import gather
from mnist_sgd.errors import MnistSgdError

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import benchlib  # noqa: E402

ENTRIES = ["loops", "e2e", "rss", "data", "ten_classes", "scaling"]


# --- the benchmark command ---------------------------------------------------------------


@pytest.fixture(scope="module")
def dry_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``mnist-sgd bench --quick --dry-run --json`` as a user runs it, with its own temp folder.

    The data as a fresh clone's user has it: a mirror named by ``MNIST_SGD_MIRROR``
    and an empty cache of their own (no ../shared/data).
    """
    tmp = tmp_path_factory.mktemp("bench")
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "MNIST_SGD_MIRROR": str(shared_data),
        "MNIST_SGD_CACHE": str(tmp / "user-cache"),
        "MNIST_SGD_SHARED_DATA": str(tmp / "no-such-folder"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "mnist_sgd", "bench", "--quick", "--dry-run", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_dry_run_prints_a_row_for_every_benchmark(dry_run: dict) -> None:
    names = [row["name"] for row in dry_run["rows"]]
    for model in ("linear", "simple_net"):
        assert f"{model}: torch DataLoader / our DataLoader (list of tuples)" in names
        assert f"{model}: fastai Learner / our Learner (each / its bare loop)" in names
        assert f"scaling {model}: fixed cost per batch" in names
    assert "linear: Learner.fit / bare loop" in names
    assert "simple_net: Learner.fit / plain PyTorch" in names
    assert "mnist-sgd train (warm) vs fastai notebook: speedup" in names
    assert any(name.startswith("peak RSS") for name in names)
    assert any(name.startswith("mnist_sample: book's way / ours cold") for name in names)
    assert any("time to 0.99" in name for name in names)
    example = next(r for r in dry_run["rows"] if r["name"] == "PyTorch example: s/epoch")
    assert "nan" not in example["detail"] and "test acc 0." in example["detail"], example


def test_dry_run_rows_have_a_status_and_none_failed(dry_run: dict) -> None:
    rows = dry_run["rows"]
    assert {row["status"] for row in rows} <= {"pass", "miss", "skip", "info"}, rows
    for row in rows:
        if row["status"] in ("pass", "miss"):
            assert row["goal"] is not None and row["value"] is not None
    skipped_peers = [r for r in rows if "fastai" in r["name"] and r["status"] == "skip"]
    assert all(r["skipped"] for r in skipped_peers)
    assert dry_run["mode"] == "dry run" and dry_run["machine"]["torch"] == torch.__version__


def test_table_shows_value_goal_and_verdict() -> None:
    rows = [
        benchlib.Row("a / b", 0.9, goal=("<=", 1.2), detail="a 0.9 s, b 1.0 s"),
        benchlib.Row("speedup", 4.0, goal=(">=", 5.0)),
        benchlib.skipped("peer", "not installed: sh benchmarks/peers/setup.sh", (">=", 2.5)),
        benchlib.Row("rss", 0.3, unit="GiB", goal=("<=", 0.8)),
    ]
    table = benchlib.format_rows(rows).splitlines()
    assert [line.split()[-1] for line in table if not line.startswith(" ")][1:] == [
        "pass",
        "miss",
        "skip",
        "pass",
    ]
    assert "    not installed: sh benchmarks/peers/setup.sh" in table
    assert "| rss | 0.3 GiB | <= 0.8 GiB | pass |" in benchlib.markdown_rows(rows)


def test_only_names_benchmarks_and_rejects_unknown_ones() -> None:
    assert chosen("e2e,loops", ENTRIES) == ["loops", "e2e"]
    assert chosen(None, ENTRIES) == ENTRIES
    with pytest.raises(ValueError, match="unknown benchmark nope; choose from: loops"):
        chosen("loops,nope", ENTRIES)
    assert main(["bench", "--only", "nope"]) == 2


def test_without_a_checkout_bench_says_what_to_do(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert find_benchmarks(tmp_path) == REPO / "benchmarks"
    monkeypatch.setattr(
        "mnist_sgd.cli.bench.__file__", str(tmp_path / "site" / "mnist_sgd" / "cli" / "bench.py")
    )
    with pytest.raises(MnistSgdError, match="runs from a source checkout"):
        find_benchmarks(tmp_path)


def test_results_sections_of_others_are_kept() -> None:
    web, data = "## Web (issue 8)\n\nw\n\n", "## Data\n\nd\n"
    text = f"# Results\n\n{web}## Speed (issue 6)\n\nold\n\n### sub\n\ns\n\n{data}"
    new = benchlib.replace_section(text, "## Speed (issue 6)", "new")
    assert new == f"# Results\n\n{web}## Speed (issue 6)\n\nnew\n\n{data}"
    assert benchlib.replace_section("# R\n", "## X", "x") == "# R\n\n## X\n\nx\n"


# --- the fast paths give the plain paths' numbers ------------------------------------------


def synthetic(n: int = 300, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(n, 28, 28)`` uint8 images and ``(n,)`` labels 0/1 that depend on the pixels."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
    labels = (images[:, :14].float().mean((1, 2)) > images[:, 14:].float().mean((1, 2))).long()
    return images, labels


def test_our_dataloader_gives_torch_dataloaders_batches_for_the_same_permutation() -> None:
    images, labels = synthetic(53)
    x, y = seed_tensors(images, labels)
    dset = list(zip(x, y, strict=True))
    ours = DataLoader(dset, batch_size=8, shuffle=True, seed=5)
    assert ours.fast_data is not None
    for _ in range(2):  # two epochs, two permutations
        replay = torch.Generator().manual_seed(0)
        replay.set_state(ours.generator.get_state())
        permutation = torch.randperm(len(dset), generator=replay)
        theirs = torch.utils.data.DataLoader(dset, batch_size=8, sampler=permutation.tolist())
        pairs = list(zip(ours, theirs, strict=True))
        assert len(pairs) == 7
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in pairs)


def test_uint8_images_converted_per_batch_equal_the_seeds_float_tensors() -> None:
    images, labels = synthetic(40)
    x, y = seed_tensors(images, labels)
    dataset = ImageDataset(images, y)
    idx = torch.randperm(40)[:16]
    xb, yb = dataset[idx]
    assert xb.dtype == torch.float32 and torch.equal(xb, x[idx]) and torch.equal(yb, y[idx])
    pictures = ImageDataset(images, y, flatten=False)[idx][0]
    assert pictures.shape == (16, 1, 28, 28) and torch.equal(pictures.flatten(1), x[idx])


@pytest.mark.parametrize(
    "idx",
    [
        torch.tensor([3, 0, 3, 7]),
        torch.tensor([5, 1], dtype=torch.int32),
        2,
        torch.tensor(4),
        torch.arange(9) % 2 == 0,
        slice(2, 5),
    ],
)
def test_gather_equals_indexing(idx) -> None:  # type: ignore[no-untyped-def]
    data = torch.arange(9 * 6, dtype=torch.uint8).view(9, 2, 3)
    assert torch.equal(gather(data, idx), data[idx])


def bare_loop(
    images: Tensor,
    labels: Tensor,
    model: torch.nn.Module,
    lr: float,
    epochs: int,
    seed: int,
    update,
) -> None:  # type: ignore[no-untyped-def]
    """The chapter's loop on the seed's float tensors, in the order a seeded DataLoader draws."""
    x, y = seed_tensors(images, labels)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            mnist_loss(model(x[idx]), y[idx]).backward()
            update()


def learner_fit(
    images: Tensor,
    labels: Tensor,
    model: torch.nn.Module,
    lr: float,
    epochs: int,
    seed: int,
    opt_func,
) -> None:  # type: ignore[no-untyped-def]
    """``Learner.fit`` over uint8 images converted per batch, as ``mnist-sgd train`` builds it."""
    target = (labels == 0).long().unsqueeze(1)
    dls = DataLoaders(
        DataLoader(ImageDataset(images, target), 64, shuffle=True, seed=seed),
        DataLoader(ImageDataset(images[:50], target[:50]), 64),
    )
    Learner(dls, model, opt_func=opt_func, loss_func=mnist_loss).fit(epochs, lr=lr)


def test_learner_fit_gives_the_bare_loops_weights_bit_for_bit() -> None:
    images, labels = synthetic(300)
    torch.manual_seed(1)
    bare_model, learner_model = Linear1(), Linear1()
    learner_model.load_state_dict(bare_model.state_dict())
    params = list(bare_model.parameters())

    @torch.no_grad()
    def seed_step() -> None:  # the seed's p.data -= p.grad*lr, then zero the grads
        for p in params:
            p.data -= p.grad.data * 1.0
            p.grad = None

    bare_loop(images, labels, bare_model, 1.0, 3, seed=7, update=seed_step)
    learner_fit(images, labels, learner_model, 1.0, 3, seed=7, opt_func=BasicOptim)
    pairs = zip(bare_model.parameters(), learner_model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_learner_fit_with_our_sgd_matches_plain_pytorch_for_simple_net() -> None:
    images, labels = synthetic(300)
    torch.manual_seed(2)
    plain, ours = simple_net(), simple_net()
    ours.load_state_dict(plain.state_dict())
    opt = torch.optim.SGD(plain.parameters(), lr=0.1)

    def torch_step() -> None:
        opt.step()
        opt.zero_grad()

    bare_loop(images, labels, plain, 0.1, 3, seed=9, update=torch_step)
    learner_fit(images, labels, ours, 0.1, 3, seed=9, opt_func=SGD)
    for a, b in zip(plain.parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_bare_loops_two_gathers_train_the_same_model() -> None:
    sys.path.insert(0, str(REPO / "benchmarks" / "peers"))
    from loops import fit_bare

    images, labels = synthetic(200)
    data = (*seed_tensors(images, labels), *seed_tensors(images[:60], labels[:60]))
    for name in ("linear", "simple_net"):
        _, by_index = fit_bare(data, name, epochs=2, bs=32)
        _, by_index_select = fit_bare(data, name, epochs=2, bs=32, gather="index_select")
        assert by_index == by_index_select


# --- threads ------------------------------------------------------------------------------


def test_threads_leave_a_core_and_respect_the_cpu_quota() -> None:
    assert sensible_threads(64, 2.0) == 1
    assert sensible_threads(64, 4.5) == 4
    assert sensible_threads(8, None) == 7
    assert sensible_threads(4, 0.5) == 1
    assert sensible_threads(1, None) == 1


def test_cpu_quota_reads_cgroup_v2(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr("mnist_sgd.config.threads.CGROUP_V2", cpu_max)
    cpu_max.write_text("150000 100000\n")
    assert cpu_quota() == 1.5
    cpu_max.write_text("max 100000\n")
    assert cpu_quota() is None
    cpu_max.write_text("garbage\n")
    assert cpu_quota() is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_the_data_moves_once_and_batches_stay_there() -> None:
    images, labels = synthetic(100)
    dl = DataLoader(
        ImageDataset(images, labels), batch_size=32, shuffle=True, seed=0, device="cuda"
    )
    assert all(t.is_cuda for t in dl.fast_data.tensors)
    xb, yb = next(iter(dl))
    assert xb.is_cuda and yb.is_cuda and xb.dtype == torch.float32

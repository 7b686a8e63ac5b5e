"""Datasets, ``collate`` and the ``DataLoader`` (book: "SGD and mini-batches")."""

from __future__ import annotations

import string
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from mnist_sgd import (
    DataLoader,
    DataLoaders,
    ImageDataset,
    TensorDataset,
    binary_target,
    collate,
    seed_tensors,
)


class ItemByItem:
    """A dataset the fast path does not recognise: it only knows ``len`` and ``[i]``."""

    def __init__(self, items: Any) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]


def flat(batches: list[Tensor]) -> list[int]:
    return torch.cat(batches).tolist()


def same_batches(a: list[Any], b: list[Any]) -> bool:
    if isinstance(a, Tensor):
        return isinstance(b, Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same_batches(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# --- the seed's tensors -------------------------------------------------------------------


def test_seed_tensors_flatten_scale_and_label() -> None:
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 0, 1, 1])
    train_x, train_y = seed_tensors(images, labels)
    assert train_x.shape == (5, 784) and train_x.dtype == torch.float32
    torch.testing.assert_close(train_x, images.view(-1, 784).float() / 255)
    assert train_y.tolist() == [[1], [0], [1], [0], [0]]  # 1 = "this is a 3" (class 0)
    assert torch.equal(binary_target(labels), train_y)
    assert binary_target(labels, positive=1).tolist() == [[0], [1], [0], [1], [1]]


def test_image_dataset_keeps_uint8_and_gives_floats() -> None:
    images = torch.randint(0, 256, (6, 28, 28), dtype=torch.uint8)
    targets = torch.arange(6)
    ds = ImageDataset(images, targets)
    x, y = ds[2]
    assert x.shape == (784,) and x.dtype == torch.float32 and y.item() == 2
    torch.testing.assert_close(x, images[2].flatten().float() / 255)
    xb, _ = ImageDataset(images, targets, flatten=False)[torch.tensor([0, 1])]
    assert xb.shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\(n, 28, 28\) uint8, got \(6, 784\) torch.float32"):
        ImageDataset(images.view(6, -1).float(), targets)


def test_tensor_dataset_checks_lengths() -> None:
    ds = TensorDataset(torch.zeros(4, 2), torch.ones(4))
    assert len(ds) == 4 and len(ds[1]) == 2
    with pytest.raises(ValueError, match=r"same length, got \[4, 3\]"):
        TensorDataset(torch.zeros(4), torch.zeros(3))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


# --- collate ------------------------------------------------------------------------------


def test_collate_tensors_numbers_strings_and_nested_tuples() -> None:
    assert same_batches(
        collate([torch.tensor([1, 2]), torch.tensor([3, 4])]), torch.tensor([[1, 2], [3, 4]])
    )
    assert same_batches(collate([1, 2, 3]), torch.tensor([1, 2, 3]))
    assert collate([1.5, 2.5]).dtype == torch.float32
    assert collate([True, False]).dtype == torch.bool
    assert collate(["a", "b"]) == ("a", "b")
    nested = [((1, "a"), torch.tensor([0.5])), ((2, "b"), torch.tensor([1.5]))]
    (numbers, letters), values = collate(nested)
    assert same_batches(numbers, torch.tensor([1, 2])) and letters == ("a", "b")
    assert same_batches(values, torch.tensor([[0.5], [1.5]]))
    assert same_batches(collate([[1, "x"], [2, "y"]]), (torch.tensor([1, 2]), ("x", "y")))
    with pytest.raises(TypeError, match="cannot collate items of type dict"):
        collate([{"a": 1}])


# --- the DataLoader -----------------------------------------------------------------------


def test_range_15_gives_three_tensors_of_five_a_permutation() -> None:
    batches = list(DataLoader(range(15), batch_size=5, shuffle=True))
    assert len(batches) == 3
    assert all(isinstance(b, Tensor) and b.shape == (5,) for b in batches)
    assert sorted(flat(batches)) == list(range(15))


def test_tuples_are_shuffled_as_tuples_and_collated_per_field() -> None:
    ds = list(enumerate(string.ascii_lowercase))
    batches = list(DataLoader(ds, batch_size=6, shuffle=True, seed=0))
    assert [len(b[1]) for b in batches] == [6, 6, 6, 6, 2]
    for numbers, letters in batches:
        assert isinstance(numbers, Tensor) and isinstance(letters, tuple)
        assert [string.ascii_lowercase[i] for i in numbers.tolist()] == list(letters)
    assert sorted(flat([b[0] for b in batches])) == list(range(26))


@pytest.mark.parametrize("drop_last", [False, True])
def test_each_item_once_per_epoch_in_a_new_order(drop_last: bool) -> None:
    dl = DataLoader(range(23), batch_size=5, shuffle=True, drop_last=drop_last, seed=3)
    assert len(dl) == (4 if drop_last else 5)
    orders = []
    for _ in range(4):
        batches = list(dl)
        assert [len(b) for b in batches] == ([5] * 4 if drop_last else [5, 5, 5, 5, 3])
        items = flat(batches)
        assert len(set(items)) == len(items)
        if not drop_last:
            assert sorted(items) == list(range(23))
        orders.append(items)
    assert len({tuple(o) for o in orders}) == 4


def test_without_shuffle_the_order_is_the_dataset_order() -> None:
    assert flat(list(DataLoader(range(7), batch_size=3))) == list(range(7))


def test_a_seed_makes_the_order_reproducible() -> None:
    def epochs(**kwargs: Any) -> list[list[int]]:
        dl = DataLoader(range(50), batch_size=8, shuffle=True, **kwargs)
        return [flat(list(dl)) for _ in range(3)]

    assert epochs(seed=1) == epochs(seed=1)
    assert epochs(seed=1) != epochs(seed=2)
    assert epochs(generator=torch.Generator().manual_seed(1)) == epochs(seed=1)
    torch.manual_seed(5)
    first = epochs()
    torch.manual_seed(5)
    assert epochs() == first  # no seed: the global RNG decides


def test_the_seed_ignores_other_draws_from_the_global_rng() -> None:
    dl = DataLoader(range(50), batch_size=8, shuffle=True, seed=1)
    torch.manual_seed(0)
    a = flat(list(dl))
    dl = DataLoader(range(50), batch_size=8, shuffle=True, seed=1)
    torch.manual_seed(123)
    torch.rand(10)
    assert flat(list(dl)) == a


def _datasets() -> dict[str, tuple[Any, Any]]:
    """name -> (dataset for the fast path, the same items for the general path)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(37, 784, generator=g)
    y = torch.randint(0, 2, (37, 1), generator=g)
    images = torch.randint(0, 256, (37, 28, 28), dtype=torch.uint8, generator=g)
    pairs = list(zip(x, y, strict=True))
    image_ds = ImageDataset(images, y)
    return {
        "list of tensor tuples (the seed's zip)": (pairs, ItemByItem(pairs)),
        "TensorDataset": (TensorDataset(x, y), ItemByItem(pairs)),
        "ImageDataset": (image_ds, ItemByItem([image_ds[i] for i in range(37)])),
        "a tensor": (x, ItemByItem(list(x))),
    }


@pytest.mark.parametrize("name", list(_datasets()))
def test_the_fast_path_gives_the_same_batches_as_the_general_path(name: str) -> None:
    fast_ds, slow_ds = _datasets()[name]
    fast = DataLoader(fast_ds, batch_size=8, shuffle=True, seed=4)
    slow = DataLoader(slow_ds, batch_size=8, shuffle=True, seed=4)
    assert fast.fast_data is not None and slow.fast_data is None
    for _ in range(2):  # two epochs: two orders
        a, b = list(fast), list(slow)
        assert len(a) == 5 and same_batches(a, b)


def test_uneven_tuples_take_the_general_path() -> None:
    ds = [(torch.zeros(2), torch.tensor(0)), (torch.zeros(3), torch.tensor(1))]
    dl = DataLoader(ds, batch_size=1)
    assert dl.fast_data is None
    assert [b[0].shape for b in dl] == [(1, 2), (1, 3)]


def test_batches_from_start_skips_the_first_batches() -> None:
    a = DataLoader(range(30), batch_size=4, shuffle=True, seed=9)
    b = DataLoader(range(30), batch_size=4, shuffle=True, seed=9)
    full = list(a)
    assert same_batches(list(b.batches(3)), full[3:])
    assert list(b.batches(len(b))) == []
    order = torch.arange(30).flip(0)
    assert flat(list(b.batches(6, order=order))) == [5, 4, 3, 2, 1, 0]


def test_rng_state_replays_an_epoch() -> None:
    dl = DataLoader(range(30), batch_size=4, shuffle=True, seed=9)
    state = dl.rng_state()
    assert state is not None
    first = flat(list(dl))
    dl.set_rng_state(state)
    assert flat(list(dl)) == first
    assert DataLoader(range(3)).rng_state() is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        DataLoader(range(3), batch_size=0)
    with pytest.raises(ValueError, match="seed or a generator, not both"):
        DataLoader(range(3), seed=1, generator=torch.Generator())


def test_dataloaders_hold_train_and_valid() -> None:
    train, valid = DataLoader(range(4)), DataLoader(range(2))
    dls = DataLoaders(train, valid)
    assert dls.train is train and dls.valid is valid and dls[0] is train and dls[1] is valid


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60), bs=st.integers(1, 16), drop_last=st.booleans(), seed=st.integers(0, 99)
)
def test_property_every_item_at_most_once_and_all_when_keeping_the_last(
    n: int, bs: int, drop_last: bool, seed: int
) -> None:
    dl = DataLoader(
        list(zip(torch.arange(n), torch.arange(n), strict=True)), bs, True, drop_last, seed=seed
    )
    batches = [b[0] for b in dl]
    assert len(batches) == len(dl)
    items = flat(batches) if batches else []
    assert len(set(items)) == len(items)
    if drop_last:
        assert len(items) == (n // bs) * bs
    else:
        assert sorted(items) == list(range(n))


def test_in_order_batches_are_slices_of_floats_made_once() -> None:
    """The validation set, read in order every epoch: the same batches as gathering by index,
    from one float copy (made on the first read) instead of a conversion a batch."""
    from mnist_sgd.core.data import ImageDataset, to_input

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (10, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.arange(10)
    ds = ImageDataset(images, labels, flatten=True)
    dl = DataLoader(ds, batch_size=4)
    first, second = list(dl), list(dl)
    assert [len(yb) for _, yb in first] == [4, 4, 2]
    expected = to_input(images, flat=True)
    assert torch.equal(torch.cat([xb for xb, _ in first]), expected)
    assert torch.equal(torch.cat([yb for _, yb in first]), labels)
    assert first[0][0].data_ptr() == second[0][0].data_ptr() == ds.floats.data_ptr()  # type: ignore[union-attr]
    shuffled = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    xb, yb = next(iter(shuffled))
    assert torch.equal(xb, expected[yb])  # shuffled batches gather, as before

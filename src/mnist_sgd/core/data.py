"""Datasets and the DataLoader: fastbook chapter 4, "SGD and mini-batches".

The seed's data is a list of ``(x, y)`` pairs (``list(zip(train_x, train_y))``)
that a ``DataLoader`` shuffles each epoch and cuts into mini-batches. This
``DataLoader`` takes any such collection; when the data is whole tensors (a
``TensorDataset``, an ``ImageDataset``, a plain tensor, or a list of tensor
tuples, stacked once) batches are gathered by index, with no per-item Python.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

Batch = Any  # a Tensor, a tuple of fields, ... whatever collate builds

# A binary model's one output scores class POSITIVE (MNIST_SAMPLE's "3"), target 1, against
# the other (the seed's train_y); binary_target, binary_labels, binary_columns apply the rule.
POSITIVE = 0


class TensorDataset:
    """Items ``(t[i] for t in tensors)``; an index tensor gives a whole batch at once.

    Args:
        tensors: tensors of equal length ``n`` along dimension 0.
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            lengths = [len(t) for t in tensors]
            raise ValueError(f"all tensors must have the same length, got {lengths}")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, idx: int | slice | Tensor) -> tuple[Tensor, ...]:
        return self.transform(tuple(gather(t, idx) for t in self.tensors))

    def transform(self, items: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """Turn stored fields into what the model sees (identity here)."""
        return items

    def to(self, device: torch.device | str) -> TensorDataset:
        """The same dataset with every tensor on ``device`` (copied once)."""
        moved = TensorDataset.__new__(type(self))
        moved.__dict__.update(self.__dict__)
        moved.tensors = tuple(t.to(device) for t in self.tensors)
        return moved


class ImageDataset(TensorDataset):
    """Images kept as uint8 and turned into floats in [0, 1] per batch (4x less memory).

    Args:
        images: ``(n, 28, 28)`` uint8, white ink on black.
        targets: ``(n,)`` int64 class indices, or ``(n, 1)`` binary targets.
        flatten: give ``(bs, 784)`` rows (the linear model, ``simple_net``)
            instead of ``(bs, 1, 28, 28)`` pictures (CNNs).
    """

    def __init__(self, images: Tensor, targets: Tensor, *, flatten: bool = True) -> None:
        if images.dtype != torch.uint8 or images.ndim != 3:
            raise ValueError(
                f"images must be (n, 28, 28) uint8, got {tuple(images.shape)} {images.dtype}"
            )
        super().__init__(images, targets)
        self.flatten = flatten
        self.floats: Tensor | None = None  # made on the first read in order, if small

    def __getitem__(self, idx: int | slice | Tensor) -> tuple[Tensor, ...]:
        """As ``TensorDataset``'s; a slice (a ``DataLoader`` reading in order: the validation
        set, every epoch) is a view of floats made once, when they take at most
        ``FLOAT_COPY_BYTES`` (issue 30: the validation pass was a fifth of the seed's epoch)."""
        images, targets = self.tensors
        small = images.numel() * 4 <= FLOAT_COPY_BYTES
        if not isinstance(idx, slice) or not small or type(self).transform is not _plain:
            return super().__getitem__(idx)
        if self.floats is None or self.floats.device != images.device:
            self.floats = to_input(images, flat=self.flatten)
        return self.floats[idx], targets[idx]

    def transform(self, items: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """uint8 ``(.., 28, 28)`` -> float32 ``(.., 784)`` or ``(.., 1, 28, 28)`` in [0, 1]."""
        images, targets = items
        return to_input(images, flat=self.flatten), targets


_plain = ImageDataset.transform
FLOAT_COPY_BYTES = 48 << 20  # MNIST's 10,000 test images as floats: 31 MB


def to_input(images: Tensor, *, flat: bool) -> Tensor:
    """Pixels to model input, the one place it is done: uint8 ``(.., 28, 28)`` -> float32 in [0, 1].

    ``flat``: ``(.., 784)`` rows (the linear model, ``simple_net``, ``mlp``); otherwise
    ``(.., 1, 28, 28)`` pictures (CNNs). ``core.model.takes_flat_input(model)`` says which.
    """
    x = images.float().div_(255)
    return x.flatten(-2) if flat else x.unsqueeze(-3)


def gather(data: Tensor, idx: int | slice | Tensor) -> Tensor:
    """``data[idx]``; a 1-d index tensor (a batch) goes through ``index_select``.

    Same values as ``data[idx]``, but on CPU ``index_select`` is about 10x faster
    than advanced indexing for a batch of 256 images (benchmarks/bench_peers.py).
    """
    if isinstance(idx, Tensor) and idx.ndim == 1 and idx.dtype in (torch.int64, torch.int32):
        return data.index_select(0, idx)
    return data[idx]


def seed_tensors(images: Tensor, labels: Tensor, positive: int = POSITIVE) -> tuple[Tensor, Tensor]:
    """The seed's ``train_x`` and ``train_y`` from stacked images and class labels.

    ``train_x = images.view(-1, 28*28).float()/255``, shape ``(n, 784)`` float32;
    ``train_y = (labels == positive).unsqueeze(1)``, shape ``(n, 1)`` int64, 1 for
    the positive class (MNIST_SAMPLE: class 0, the "3"s).
    """
    return to_input(images.view(-1, 28, 28), flat=True), binary_target(labels, positive)


def binary_target(labels: Tensor, positive: int = POSITIVE) -> Tensor:
    """``(n,)`` class indices -> ``(n, 1)`` int64, 1 where the label is ``positive``."""
    return (labels == positive).long().unsqueeze(1)


def binary_labels(targets: Tensor) -> Tensor:
    """``(n, 1)`` or ``(n,)`` binary targets -> ``(n,)`` int64 class indices (:data:`POSITIVE`)."""
    hit = targets.reshape(-1) > 0.5
    return torch.where(hit, POSITIVE, 1 - POSITIVE).long()


def binary_columns(column: Tensor) -> Tensor:
    """``(n, 1)`` values for :data:`POSITIVE` (a probability) -> ``(n, 2)`` in class order."""
    other = 1 - column
    return torch.cat([column, other] if POSITIVE == 0 else [other, column], dim=1)


def collate(items: Sequence[Any]) -> Batch:
    """Stack a list of items into one batch, field by field.

    Tensors are stacked, numbers become a tensor, strings a tuple, and tuples
    are collated per field: ``[(1, 'a'), (2, 'b')] -> (tensor([1, 2]), ('a', 'b'))``.
    """
    first = items[0]
    if isinstance(first, Tensor):
        return torch.stack(list(items))
    if isinstance(first, bool | numbers.Number):
        return torch.tensor(items)
    if isinstance(first, str):
        return tuple(items)
    if isinstance(first, tuple | list):
        return tuple(collate(field) for field in zip(*items, strict=True))
    raise TypeError(f"cannot collate items of type {type(first).__name__}")


def _as_tensor_data(dataset: Any) -> TensorDataset | Tensor | None:
    """The dataset as whole tensors if it is (or stacks into) them, else None."""
    if isinstance(dataset, TensorDataset | Tensor):
        return dataset
    if isinstance(dataset, list | tuple) and dataset:
        first = dataset[0]
        if isinstance(first, tuple) and all(isinstance(f, Tensor) for f in first):
            shapes = [tuple(f.shape) for f in first]
            items_ok = all(
                isinstance(item, tuple) and [tuple(f.shape) for f in item] == shapes
                for item in dataset
            )
            if items_ok:  # the seed's list(zip(train_x, train_y)): stack once
                return TensorDataset(*(torch.stack(field) for field in zip(*dataset, strict=True)))
    return None


class DataLoader:
    """Shuffle a dataset each epoch and cut it into mini-batches.

    ``DataLoader(range(15), batch_size=5, shuffle=True)`` yields three tensors
    of five that together are a permutation of 0..14.

    Args:
        dataset: anything with ``len`` and integer indexing; tensors and tuples
            of tensors take the fast path (batches gathered by index).
        batch_size: items per batch (the last one may be smaller).
        shuffle: a new random order every epoch.
        drop_last: skip a last batch smaller than ``batch_size``.
        seed: seeds this loader's own generator, so the order is reproducible
            whatever else draws random numbers; without it the global RNG is used.
        device: move the data there once, and gather batches there.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if seed is not None and generator is not None:
            raise ValueError("give a seed or a generator, not both")
        self.dataset = dataset
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.generator = generator if seed is None else torch.Generator().manual_seed(seed)
        self.device = torch.device(device) if device is not None else None
        fast = _as_tensor_data(dataset)
        if fast is not None and self.device is not None:
            fast = fast.to(self.device)
        self.fast_data = fast

    def __len__(self) -> int:
        n, bs = len(self.dataset), self.batch_size
        return n // bs if self.drop_last else -(-n // bs)

    def order(self) -> Tensor:
        """This epoch's item order: ``(n,)`` int64, a fresh permutation when shuffling."""
        n = len(self.dataset)
        if self.shuffle:
            return torch.randperm(n, generator=self.generator)
        return torch.arange(n)

    def __iter__(self) -> Iterator[Batch]:
        return self.batches()

    def batches(self, start: int = 0, order: Tensor | None = None) -> Iterator[Batch]:
        """Iterate over one epoch's batches, skipping the first ``start`` (for resuming).

        ``order`` (``(n,)`` int64, from :meth:`order`) replays an epoch's order
        instead of drawing a new one.
        """
        if order is None and self._slices():
            for i in range(start, len(self)):  # in order: each batch a slice, no index to gather
                yield self.fast_data[i * self.batch_size : (i + 1) * self.batch_size]  # type: ignore[index]
            return
        if order is None:
            order = self.order()
        if self.fast_data is not None and self.device is not None:
            order = order.to(self.device)
        for i in range(start, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self._gather(idx)

    def _slices(self) -> bool:
        """Whether batches can be slices: whole tensors read in order, by this class's rules
        (a subclass with its own order or gathering, as ``runs.parallel``'s, takes indices)."""
        own = type(self).order is DataLoader.order and type(self)._gather is DataLoader._gather
        return own and not self.shuffle and self.fast_data is not None

    def _gather(self, idx: Tensor) -> Batch:
        """One batch: indexed from whole tensors, or item by item and collated."""
        if isinstance(self.fast_data, Tensor):
            return gather(self.fast_data, idx)
        if self.fast_data is not None:
            return self.fast_data[idx]
        batch = collate([self.dataset[i] for i in idx.tolist()])
        return _to_device(batch, self.device)

    def rng_state(self) -> Tensor | None:
        """The shuffling generator's state (uint8 tensor), or None if it uses the global RNG."""
        return None if self.generator is None else self.generator.get_state()

    def set_rng_state(self, state: Tensor) -> None:
        """Restore a state from :meth:`rng_state` (resume with the same order)."""
        if self.generator is None:
            self.generator = torch.Generator()
        self.generator.set_state(state)


def _to_device(batch: Batch, device: torch.device | None) -> Batch:
    """Move every tensor of a collated batch to ``device`` (no-op when None)."""
    if device is None:
        return batch
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, tuple):
        return tuple(_to_device(field, device) for field in batch)
    return batch


class DataLoaders:
    """A training and a validation ``DataLoader``: ``dls.train``, ``dls.valid``.

    ``vocab``: the class names, if known (a binary target 1 is ``vocab[0]``).
    """

    def __init__(
        self, train: DataLoader, valid: DataLoader, vocab: Sequence[str] | None = None
    ) -> None:
        self.train, self.valid = train, valid
        self.vocab = list(vocab) if vocab is not None else None

    def __getitem__(self, i: int) -> DataLoader:
        return (self.train, self.valid)[i]

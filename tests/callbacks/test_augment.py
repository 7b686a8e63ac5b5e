"""Light augmentation: batched, label-preserving, reproducible from torch's RNG, train set only."""

from __future__ import annotations

import torch

from mnist_sgd.callbacks.augment import (
    AugmentedImageDataset,
    mirror_safe,
    policy_for,
    random_affine,
    random_flip,
)
from mnist_sgd.config.build import TrainConfig, make_dls
from mnist_sgd.core.data import DataLoader, ImageDataset


def dot_image(row: int = 14, col: int = 14) -> torch.Tensor:
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, row - 1 : row + 2, col - 1 : col + 2] = 1.0
    return x


def centre_of_mass(x: torch.Tensor) -> tuple[float, float]:
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = x.sum()
    return float((x * rows).sum() / total), float((x * cols).sum() / total)


def test_no_movement_is_the_identity() -> None:
    x = torch.rand(5, 1, 28, 28)
    out = random_affine(x, max_rotate=0, max_shift=0, max_zoom=0)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_shifts_stay_within_max_shift_pixels() -> None:
    torch.manual_seed(0)
    x = dot_image().repeat(200, 1, 1, 1)
    out = random_affine(x, max_rotate=0, max_shift=2, max_zoom=0)
    centres = [centre_of_mass(o) for o in out]
    moves = [max(abs(r - 14), abs(c - 14)) for r, c in centres]
    assert max(moves) <= 2.0 + 1e-3
    assert max(moves) > 1.0  # it does move
    assert out.shape == x.shape and out.min() >= 0


def test_rotation_keeps_the_centre_and_most_ink() -> None:
    torch.manual_seed(1)
    x = torch.zeros(50, 1, 28, 28)
    x[:, :, 6:22, 13:15] = 1.0  # a vertical bar through the middle: a "1"
    out = random_affine(x, max_rotate=10, max_shift=0, max_zoom=0)
    for o in out:
        r, c = centre_of_mass(o)
        assert abs(r - 13.5) < 0.3 and abs(c - 13.5) < 0.3
    assert (out.sum((1, 2, 3)) / x.sum((1, 2, 3))).min() > 0.9


def test_draws_come_from_the_global_torch_rng() -> None:
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(5)
    a = random_affine(x)
    state = torch.get_rng_state()
    b = random_affine(x)
    torch.set_rng_state(state)
    assert torch.equal(random_affine(x), b) and not torch.equal(a, b)


def test_whole_pixel_shifts_move_pixels_exactly_and_reach_every_offset() -> None:
    torch.manual_seed(0)
    x = torch.rand(300, 1, 28, 28)
    out = random_affine(x, max_rotate=0, max_shift=2, max_zoom=0, whole_pixels=True)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    seen = set()
    for orig_pad, moved in zip(padded, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.allclose(orig_pad[:, 2 - dy : 30 - dy, 2 - dx : 30 - dx], moved, atol=1e-5)
        ]
        assert len(matches) == 1  # an exact copy moved by whole pixels, no blur
        seen.add(matches[0])
    assert len(seen) == 25  # every offset from -2 to 2 on both axes


def test_fashion_gets_shifts_and_mirrors_and_digits_get_turns() -> None:
    fashion, digits = policy_for("fashion_mnist"), policy_for("mnist")
    assert fashion.flip and fashion.whole_pixels and fashion.max_rotate == fashion.max_zoom == 0
    assert not digits.flip and digits.max_rotate > 0 and digits.max_zoom > 0
    assert policy_for("mnist_sample") == digits


def test_flip_mirrors_about_half() -> None:
    torch.manual_seed(0)
    x = torch.rand(400, 1, 4, 4)
    out = random_flip(x)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((flipped | kept).all()) and 150 < int(flipped.sum()) < 250
    assert mirror_safe("fashion_mnist") and not mirror_safe("mnist")


def test_augmented_dataset_batches_look_like_image_dataset_batches() -> None:
    images = torch.randint(0, 256, (10, 28, 28), dtype=torch.uint8)
    labels = torch.arange(10)
    for flatten, shape in ((True, (4, 784)), (False, (4, 1, 28, 28))):
        plain = ImageDataset(images, labels, flatten=flatten)
        moved = AugmentedImageDataset(images, labels, flatten=flatten)
        idx = torch.tensor([0, 3, 5, 9])
        (xa, ya), (xb, yb) = plain[idx], moved[idx]
        assert xb.shape == xa.shape == shape and xb.dtype == torch.float32
        assert torch.equal(ya, yb) and xb.min() >= 0 and xb.max() <= 1
        assert not torch.equal(xa, xb)
        assert moved[2][0].shape == plain[2][0].shape  # one item


def test_only_the_training_set_is_augmented() -> None:
    from types import SimpleNamespace

    data = SimpleNamespace(
        name="mnist",
        classes=tuple("0123456789"),
        train_images=torch.zeros(8, 28, 28, dtype=torch.uint8),
        train_labels=torch.arange(8),
        valid_images=torch.zeros(4, 28, 28, dtype=torch.uint8),
        valid_labels=torch.arange(4),
    )
    config = TrainConfig(dataset="mnist", model="cnn", loss="cross_entropy", augment=True)
    dls = make_dls(config, data)
    assert isinstance(dls.train.dataset, AugmentedImageDataset)
    assert dls.train.dataset.policy == policy_for("mnist") and not dls.train.dataset.policy.flip
    assert type(dls.valid.dataset) is ImageDataset
    fashion = SimpleNamespace(**{**vars(data), "name": "fashion_mnist"})
    assert make_dls(config, fashion).train.dataset.policy == policy_for("fashion_mnist")
    plain = make_dls(TrainConfig(dataset="mnist", model="cnn", loss="cross_entropy"), data)
    assert type(plain.train.dataset) is ImageDataset


def test_a_loader_replays_the_same_augmented_epoch_from_saved_states() -> None:
    images = torch.randint(0, 256, (32, 28, 28), dtype=torch.uint8)
    dl = DataLoader(
        AugmentedImageDataset(images, torch.arange(32)), batch_size=8, shuffle=True, seed=3
    )
    loader_state, torch_state = dl.rng_state(), torch.get_rng_state()
    first = [xb for xb, _ in dl]
    assert loader_state is not None
    dl.set_rng_state(loader_state)
    torch.set_rng_state(torch_state)
    again = [xb for xb, _ in dl]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))

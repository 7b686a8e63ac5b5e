"""Own images to MNIST style: each step on synthetic images, then real MNIST digits."""

from __future__ import annotations

import gzip
import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from mnist_sgd.datasets.mnist_style import (
    MNIST_CENTER,
    background_level,
    center_of_mass,
    crop_to_ink,
    fit_in_box,
    flatten_background,
    ink_bbox,
    ink_is_dark,
    invert,
    is_mnist_like,
    paste_center,
    remove_background,
    shift_to_center,
    to_grayscale,
    to_mnist,
)
from mnist_sgd.errors import ImageError
from mnist_sgd.predict.preprocess import open_image, prepare_image

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(), reason="no local MNIST copy"
)


def read_idx(name: str, offset: int) -> np.ndarray:
    """The raw bytes of a gzipped IDX file after its header (16 for images, 8 for labels)."""
    with gzip.open(MNIST_DIR / name) as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)


def mnist_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """``(10000, 28, 28) uint8`` images and ``(10000,) int64`` labels."""
    images = read_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    return images, read_idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)


def drawing(
    size: tuple[int, int] = (300, 400),
    box: tuple[int, int, int, int] = (40, 60, 140, 260),
    ink: int = 0,
    paper: int = 255,
    width: int = 14,
) -> Image.Image:
    """A 9-ish digit (a ring with a tail) inside ``box`` = (left, top, right, bottom)."""
    img = Image.new("L", size, paper)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = box
    middle = (top + bottom) // 2
    draw.ellipse((left, top, right, middle), outline=ink, width=width)
    draw.line((right - width // 2, (top + middle) // 2, right - width // 2, bottom), ink, width)
    return img


def png_bytes(img: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """``img`` encoded as ``fmt``."""
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def bbox_size(digit: torch.Tensor) -> tuple[int, int]:
    """Height and width of the nonzero part of ``(28, 28)``."""
    top, left, bottom, right = ink_bbox(digit.numpy().astype(np.float32))
    return bottom - top, right - left


# --- grayscale and transparency -----------------------------------------------------------


def test_to_grayscale_of_rgb_is_pillow_luminance() -> None:
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    gray = to_grayscale(rgb)
    assert gray.shape == (30, 40) and gray.dtype == np.float32
    np.testing.assert_array_equal(gray, np.asarray(rgb.convert("L"), dtype=np.float32))


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (200, 30, 30)])
def test_transparent_drawing_uses_alpha_as_ink(colour: tuple[int, int, int]) -> None:
    # A canvas export: one ink colour everywhere, the strokes only in the alpha channel.
    alpha = drawing(ink=255, paper=0)
    rgba = Image.new("RGBA", alpha.size, (*colour, 0))
    rgba.putalpha(alpha)
    expected = to_mnist(drawing())
    assert torch.equal(to_mnist(rgba), expected)


def test_to_grayscale_of_16_bit_scales_to_255() -> None:
    values = np.zeros((10, 10), dtype=np.uint16)
    values[5, 5] = 4000
    gray = to_grayscale(Image.fromarray(values))
    assert gray.max() == pytest.approx(255.0) and gray.min() == 0.0


def test_to_grayscale_of_a_float_image_with_a_tiny_maximum_and_bad_values() -> None:
    # Found by the fuzz test: a float image whose brightest pixel is subnormal made the
    # float32 scale overflow (inf * 0 = NaN); negatives, NaN and inf count as black.
    values = np.zeros((6, 6), dtype=np.float32)
    values[1, 1] = 1e-40  # subnormal in float32
    values[2, 2] = 5e-41
    values[3, 3], values[4, 4], values[5, 5] = -7.0, np.nan, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow would be a RuntimeWarning
        gray = to_grayscale(Image.fromarray(values, mode="F"))
    assert gray.dtype == np.float32 and np.isfinite(gray).all()
    assert gray[1, 1] == pytest.approx(255.0) and gray[2, 2] == pytest.approx(127.5)
    assert gray[3, 3] == gray[4, 4] == gray[5, 5] == gray[0, 0] == 0.0


# --- inversion and background -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ink", "paper", "dark"),
    [(0, 255, True), (255, 0, False), (30, 110, True), (200, 120, False)],
)
def test_ink_is_dark_compares_ink_with_the_border(ink: int, paper: int, dark: bool) -> None:
    # (30, 110): dim photo of paper, darker than mid-grey, still dark ink.
    assert ink_is_dark(to_grayscale(drawing(ink=ink, paper=paper))) is dark


def test_invert() -> None:
    gray = np.array([[0.0, 255.0], [100.0, 30.0]], dtype=np.float32)
    np.testing.assert_array_equal(invert(gray), [[255.0, 0.0], [155.0, 225.0]])


def test_background_level_is_the_border_median() -> None:
    gray = np.full((50, 50), 40.0, dtype=np.float32)
    gray[10:40, 10:40] = 250.0
    assert background_level(gray) == 40.0


def test_remove_background_zeroes_noise_and_stretches_ink() -> None:
    rng = np.random.default_rng(0)
    gray = (60.0 + rng.normal(0, 4, (100, 100))).astype(np.float32)
    gray[40:60, 30:70] = 180.0
    clean = remove_background(gray, threshold=0.15)
    assert clean[:40].max() == 0.0 and clean[60:].max() == 0.0
    assert clean[45:55, 35:65].min() > 200.0 and clean.max() == pytest.approx(255.0)


def test_remove_background_of_uniform_image_is_empty() -> None:
    assert remove_background(np.full((20, 20), 90.0, dtype=np.float32)).max() == 0.0


# --- crop, box, paste, centre ---------------------------------------------------------


def test_ink_bbox_and_crop() -> None:
    ink = np.zeros((50, 60), dtype=np.float32)
    ink[10:20, 30:55] = 255.0
    ink[25, 5] = 1.0
    assert ink_bbox(ink) == (10, 5, 26, 55)
    assert crop_to_ink(ink).shape == (16, 50)


def test_ink_bbox_without_ink_says_no_digit() -> None:
    with pytest.raises(ImageError, match="holds no digit"):
        ink_bbox(np.zeros((5, 5), dtype=np.float32))


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((100, 50), (20, 10)), ((30, 90), (7, 20)), ((3, 1), (20, 7)), ((400, 2), (20, 1))],
)
def test_fit_in_box_keeps_aspect(shape: tuple[int, int], expected: tuple[int, int]) -> None:
    out = fit_in_box(np.full(shape, 255.0, dtype=np.float32))
    assert out.shape == expected
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_paste_center() -> None:
    out = paste_center(np.ones((20, 10), dtype=np.float32))
    assert out.shape == (28, 28)
    assert ink_bbox(out) == (4, 9, 24, 19)
    with pytest.raises(ValueError, match="does not fit"):
        paste_center(np.ones((29, 3), dtype=np.float32))


def test_center_of_mass_uses_pixel_centres() -> None:
    gray = np.zeros((28, 28), dtype=np.float32)
    gray[3, 5] = 10.0
    assert center_of_mass(gray) == (3.0, 5.0)
    gray[5, 5] = 10.0
    assert center_of_mass(gray) == (4.0, 5.0)
    with pytest.raises(ValueError, match="all-black"):
        center_of_mass(np.zeros((3, 3), dtype=np.float32))


@pytest.mark.parametrize("seed", range(20))
def test_shift_to_center_lands_within_half_a_pixel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gray = np.zeros((28, 28), dtype=np.float32)
    top, left = rng.integers(0, 10, 2)
    gray[top : top + 18, left : left + 18] = rng.uniform(0, 255, (18, 18))
    shifted = shift_to_center(gray)
    row, col = center_of_mass(shifted)
    assert abs(row - MNIST_CENTER) <= 0.5 and abs(col - MNIST_CENTER) <= 0.5
    assert shifted.sum() == pytest.approx(gray.sum())


def test_shift_to_center_never_pushes_ink_out_of_the_frame() -> None:
    gray = np.zeros((28, 28), dtype=np.float32)
    gray[0:20, 0] = 255.0  # an "L" flush with the top-left corner: its mass sits off its box
    gray[0, 0:20] = 255.0
    shifted = shift_to_center(gray)
    assert shifted.sum() == pytest.approx(gray.sum())


def test_mnist_itself_is_centred_at_14() -> None:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("no local MNIST copy")
    images, _ = mnist_test_digits()
    masses = np.array([center_of_mass(image.astype(np.float32)) for image in images[:2000]])
    np.testing.assert_allclose(masses.mean(axis=0), [MNIST_CENTER, MNIST_CENTER], atol=0.05)


# --- the whole recipe ------------------------------------------------------------------


def test_to_mnist_of_an_off_centre_drawing() -> None:
    digit = to_mnist(drawing().convert("RGB"))
    assert digit.shape == (28, 28) and digit.dtype == torch.uint8
    assert int(digit.max()) == 255
    assert int(digit[0].max()) == int(digit[-1].max()) == 0  # black background
    height, width = bbox_size(digit)
    assert max(height, width) == 20 and height == 20  # the drawing is 200 tall, 100 wide
    assert 9 <= width <= 11
    row, col = center_of_mass(digit.numpy().astype(np.float32))
    assert abs(row - MNIST_CENTER) <= 0.5 and abs(col - MNIST_CENTER) <= 0.5


def test_to_mnist_is_the_same_for_dark_and_light_ink() -> None:
    dark = to_mnist(drawing(ink=20, paper=235))
    light = to_mnist(drawing(ink=235, paper=20))
    assert (dark.int() - light.int()).abs().max() <= 2


def test_to_mnist_keeps_aspect_of_a_wide_digit() -> None:
    img = Image.new("L", (400, 300), 255)
    ImageDraw.Draw(img).rectangle((50, 100, 250, 150), fill=0)  # 201 x 51
    height, width = bbox_size(to_mnist(img))
    assert width == 20 and 5 <= height <= 6


def test_to_mnist_ignores_faint_noise_and_a_blank_image_has_no_digit() -> None:
    rng = np.random.default_rng(0)
    noisy = np.asarray(drawing(), dtype=np.float64) + rng.normal(0, 8, (400, 300))
    noisy_digit = to_mnist(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)))
    assert bbox_size(noisy_digit)[0] == 20
    with pytest.raises(ImageError, match="holds no digit"):
        to_mnist(Image.new("RGB", (50, 50), "white"))
    blank = np.clip(240 + rng.normal(0, 3, (400, 300)), 0, 255).astype(np.uint8)
    with pytest.raises(ImageError, match="holds no digit"):
        to_mnist(Image.fromarray(blank))
    with pytest.raises(ImageError, match="holds no digit"):
        to_mnist(open_image(png_bytes(Image.fromarray(blank), "JPEG")))


def test_flatten_background_removes_a_lighting_gradient() -> None:
    lighting = np.linspace(250, 150, 300)[None, :] * np.linspace(1, 0.9, 400)[:, None]
    flat = flatten_background(lighting.astype(np.float32))
    assert flat.max() - flat.min() < 3.0  # a plane fits all but the slight curvature
    gray = to_grayscale(drawing())
    np.testing.assert_allclose(flatten_background(gray), gray, atol=1e-3)  # even light: as is


def test_to_mnist_of_a_photo_lit_from_one_side() -> None:
    rng = np.random.default_rng(0)
    paper = np.linspace(250, 140, 300)[None, :] * np.linspace(1, 0.85, 400)[:, None]
    amount = 1 - np.asarray(drawing(), dtype=np.float64) / 255  # 1 where the ink is
    photo = paper * (1 - amount) + 40 * amount + rng.normal(0, 4, amount.shape)
    digit = to_mnist(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)))
    assert bbox_size(digit) == bbox_size(to_mnist(drawing()))


def test_to_mnist_rejects_a_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        to_mnist(drawing(), threshold=1.5)


def test_huge_image_is_shrunk_first() -> None:
    big = drawing(size=(3000, 4000), box=(400, 600, 1400, 2600), width=140)
    assert bbox_size(to_mnist(big)) == bbox_size(to_mnist(drawing()))


# --- opening files safely -----------------------------------------------------------------


def test_open_image_reads_paths_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "digit.png"
    drawing().save(path)
    assert open_image(path).size == open_image(str(path)).size == (300, 400)
    assert open_image(path.read_bytes()).size == (300, 400)


def test_open_image_applies_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    data = png_bytes(drawing().convert("RGB"), "JPEG", exif=exif)
    assert open_image(data).size == (400, 300)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"hello, not a picture\n", "is not an image"),
        (png_bytes(drawing())[:300], "damaged or truncated"),
        (png_bytes(drawing().convert("RGB"), "JPEG")[:-2000], "damaged or truncated"),
    ],
)
def test_open_image_refuses_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        open_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_open_image_refuses_missing_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        open_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="folder"):
        open_image(tmp_path)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels and holds almost no data (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)


@pytest.mark.parametrize("side", [12_000, 60_000])
def test_open_image_refuses_bombs_before_decoding(side: int) -> None:
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large to open safely"):
        open_image(png_header_only(side, side))
    assert time.perf_counter() - start < 1.0


def test_open_image_max_pixels() -> None:
    with pytest.raises(ImageError, match="too large"):
        open_image(png_bytes(drawing()), max_pixels=100_000)
    assert open_image(png_bytes(drawing()), max_pixels=120_000).size == (300, 400)
    with pytest.raises(ValueError, match="max_pixels"):
        open_image(png_bytes(drawing()), max_pixels=0)


# --- prepare_image ---------------------------------------------------------------------


@needs_mnist
def test_real_mnist_digits_are_mnist_like_and_pass_unchanged() -> None:
    images, _ = mnist_test_digits()
    for image in images[:20]:
        img = Image.fromarray(image)
        assert is_mnist_like(img)
        assert torch.equal(prepare_image(png_bytes(img)), torch.from_numpy(image.copy()))
        assert not is_mnist_like(Image.fromarray(255 - image))


def test_is_mnist_like_needs_28x28_gray_on_dark() -> None:
    assert not is_mnist_like(drawing(ink=255, paper=0))  # 300x400
    colour = Image.new("RGB", (28, 28), (0, 0, 0))
    colour.putpixel((14, 14), (255, 0, 0))
    assert not is_mnist_like(colour)
    assert is_mnist_like(Image.new("RGB", (28, 28), (0, 0, 0)))


def test_prepare_image_raw_only_resizes(tmp_path: Path) -> None:
    path = tmp_path / "digit.png"
    drawing().save(path)
    raw = prepare_image(path, raw=True)
    assert raw.shape == (28, 28) and raw.dtype == torch.uint8
    assert int(raw[0, 0]) == 255  # still dark ink on white
    assert int(prepare_image(path)[0, 0]) == 0


def test_prepare_image_names_the_file_when_it_holds_no_digit(tmp_path: Path) -> None:
    path = tmp_path / "blank.jpg"
    Image.new("RGB", (200, 100), "white").save(path)
    with pytest.raises(ImageError, match=r"blank\.jpg: image holds no digit"):
        prepare_image(path)


# --- the acceptance test: what people draw, through predict's preprocessing ----------------


def train_quick_model() -> torch.nn.Module:
    """An MLP (784 -> 128 -> 10) trained on real MNIST train: ~97% on the test set.

    One thread: the same weights on every machine, and no fight for a shared CPU's cores.
    """
    images = read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    xs = torch.from_numpy(images.copy()).float() / 255  # (60000, 784) float32 in [0, 1]
    ys = torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(3):
            for batch in torch.randperm(len(xs), generator=generator).split(128):
                loss = torch.nn.functional.cross_entropy(model(xs[batch]), ys[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def as_a_person_would_draw_it(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A ``(28, 28) uint8`` MNIST digit as a photo of a drawing: 300x400 RGB, dark ink on paper.

    Scaled up 5-9x, anywhere on the page, blurred a little, tinted paper and
    pen, a little sensor noise.
    """
    side = round(28 * rng.uniform(5, 9))
    ink = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    page = Image.new("L", (300, 400), 0)
    page.paste(ink, (int(rng.integers(0, 301 - side)), int(rng.integers(0, 401 - side))))
    page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    amount = np.asarray(page, dtype=np.float32)[..., None] / 255  # (400, 300, 1)
    paper, pen = rng.uniform(225, 255, 3), rng.uniform(0, 70, 3)
    noise = rng.standard_normal((400, 300, 3), dtype=np.float32) * 6
    rgb = paper * (1 - amount) + pen * amount + noise
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def accuracy(model: torch.nn.Module, images: list[torch.Tensor], labels: np.ndarray) -> float:
    """Share of ``(28, 28) uint8`` images the model classifies as ``labels``."""
    with torch.no_grad():
        xb = torch.stack(images).float().view(-1, 784) / 255
        return float((model(xb).argmax(dim=1).numpy() == labels).mean())


@pytest.mark.slow
@needs_mnist
def test_people_s_digits_need_the_preprocessing(tmp_path: Path) -> None:
    model = train_quick_model()
    images, labels = mnist_test_digits()
    rng = np.random.default_rng(7)
    chosen = rng.choice(len(images), 200, replace=False)
    prepared, raw = [], []
    for i, index in enumerate(chosen):
        path = tmp_path / f"digit{i}.{'jpg' if i % 3 == 0 else 'png'}"
        as_a_person_would_draw_it(images[index], rng).save(path, quality=85, compress_level=1)
        prepared.append(prepare_image(path))
        raw.append(prepare_image(path, raw=True))
    original = [torch.from_numpy(images[index].copy()) for index in chosen]
    on_mnist = accuracy(model, original, labels[chosen])
    through_preprocessing = accuracy(model, prepared, labels[chosen])
    through_raw_resize = accuracy(model, raw, labels[chosen])
    summary = f"mnist {on_mnist:.3f}, prepared {through_preprocessing:.3f}, "
    summary += f"raw {through_raw_resize:.3f}"
    assert through_preprocessing >= 0.95, summary
    assert through_raw_resize <= through_preprocessing - 0.20, summary

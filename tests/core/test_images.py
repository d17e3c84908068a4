"""images.py: decompression bombs, pixel bounds and high-bit-depth conversion (issue 8, items 2, 5, 12)."""
import io
import time

import numpy as np
import pytest
from PIL import Image

from interleave_robot.errors import ImageError, ImageTooLargeError
from interleave_robot.images import MAX_IMAGE_PIXELS, decode_image_bytes, image_from_base64, load_image


def png_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bomb_8k() -> bytes:
    return png_bytes(Image.new("1", (8192, 8192)))  # ~11 KB declaring 67 M pixels (705 MB RSS to decode before)


@pytest.fixture(scope="module")
def bomb_16k() -> bytes:
    return png_bytes(Image.new("1", (16384, 16384)))  # Pillow's own DecompressionBombError territory


def test_pixel_bound_refuses_before_decoding(bomb_8k):
    assert len(bomb_8k) < 64 * 1024
    t0 = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="pixel bound"):
        decode_image_bytes(bomb_8k)
    assert time.perf_counter() - t0 < 0.1


def test_decompression_bomb_error_is_an_image_error(bomb_16k, tmp_path):
    with pytest.raises(ImageTooLargeError):
        decode_image_bytes(bomb_16k)
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_16k)
    with pytest.raises(ImageError):  # the CLI's --image path: a typed error, not a traceback
        load_image(path)


def test_max_pixels_is_adjustable():
    data = png_bytes(Image.new("RGB", (64, 64)))
    assert decode_image_bytes(data).shape == (64, 64, 3)
    with pytest.raises(ImageTooLargeError):
        decode_image_bytes(data, max_pixels=64 * 63)
    import base64

    with pytest.raises(ImageTooLargeError):
        image_from_base64(base64.b64encode(data).decode(), max_pixels=100)
    assert MAX_IMAGE_PIXELS >= 3840 * 2160  # a 4K camera frame still passes


def test_16_bit_grey_is_scaled_not_clipped():
    ramp = (np.arange(64 * 32, dtype=np.uint32).reshape(32, 64) * 32).astype(np.uint16)  # 0 .. 65504
    out = decode_image_bytes(png_bytes(Image.fromarray(ramp)))
    assert out.shape == (32, 64, 3) and out.dtype == np.uint8
    expected = np.round(ramp / 257.0).astype(np.uint8)
    assert np.abs(out[:, :, 0].astype(int) - expected).max() <= 1
    assert (out[:, :, 0] == 255).mean() < 0.01  # it used to come out 99.5% white
    assert (out[:, :, 0] == out[:, :, 2]).all()


def test_float_tiff_in_unit_range():
    values = np.linspace(0.0, 1.0, 48 * 16, dtype=np.float32).reshape(16, 48)
    out = decode_image_bytes(png_bytes(Image.fromarray(values, mode="F"), "TIFF"))
    assert np.abs(out[:, :, 1].astype(int) - np.round(values * 255)).max() <= 1
    assert out.mean() > 100  # it used to come out black


@pytest.mark.parametrize("values", [np.full((8, 8), 300.0, np.float32), np.full((8, 8), -0.5, np.float32),
                                    np.full((8, 8), np.nan, np.float32)])
def test_float_tiff_out_of_range_is_refused(values):
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        decode_image_bytes(png_bytes(Image.fromarray(values, mode="F"), "TIFF"))


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "1"])
def test_ordinary_modes_still_decode(mode):
    out = decode_image_bytes(png_bytes(Image.new(mode, (10, 6)), "TIFF" if mode == "CMYK" else "PNG"))
    assert out.shape == (6, 10, 3) and out.dtype == np.uint8


def test_truncated_and_garbage_bytes():
    data = png_bytes(Image.new("RGB", (32, 32), (10, 200, 30)))
    for bad in (data[:40], data[:len(data) // 2], b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"GIF89a" + b"\xff" * 30):
        with pytest.raises(ImageError):
            decode_image_bytes(bad)

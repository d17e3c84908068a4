"""Image helpers shared by every component: RGB uint8 HxWx3 numpy arrays throughout.

Sizes are bounded so that a hostile or corrupt input cannot exhaust memory: the encoded
bytes, each side, and the decoded pixel count, checked from the header before any pixel is
decoded (an 11 KB PNG can declare 8192x8192 pixels). High-bit-depth images are scaled to
8 bits, never clipped: 16-bit integers are divided by 257, floats must lie in [0, 1] and are
multiplied by 255 (a float image outside that range is refused: its scale is unknown).
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from interleave_robot.errors import ImageError, ImageTooLargeError

MAX_IMAGE_SIDE = 8192
MAX_IMAGE_BYTES = 64 * 1024 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096  # decoded pixels; 48 MiB as RGB (a 4K camera frame is 8.3 M)
_WIDE_INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # Pillow's 16/32-bit integer grey modes


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate an RGB uint8 HxWx3 array and return it; raise ImageError naming the problem."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"{what} must have shape HxWx3, got {image.shape}")
    if image.dtype != np.uint8:
        raise ImageError(f"{what} must be uint8, got {image.dtype}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ImageError(f"{what} is empty ({w}x{h})")
    if h > MAX_IMAGE_SIDE or w > MAX_IMAGE_SIDE:
        raise ImageError(f"{what} is {w}x{h}, larger than the {MAX_IMAGE_SIDE}px bound")
    return image


def _to_rgb8(img, what: str) -> np.ndarray:
    """A decoded PIL image as RGB uint8, high bit depths scaled (Pillow's convert("RGB") clips them)."""
    if img.mode in _WIDE_INT_MODES:
        values = np.asarray(img)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageError(f"{what}: {img.mode} image with values outside 0..65535")
        grey = ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.mode == "F":
        values = np.asarray(img, dtype=np.float32)
        if not np.isfinite(values).all() or (values.size and (values.min() < 0.0 or values.max() > 1.0)):
            raise ImageError(f"{what}: a float image must hold finite values in [0, 1]")
        grey = np.round(values * 255.0).astype(np.uint8)
    else:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    return np.repeat(grey[:, :, None], 3, axis=2)


def decode_image_bytes(data: bytes, what: str = "image", max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode PNG/JPEG/... bytes to RGB uint8; ImageError if corrupt or too large.

    ImageTooLargeError (an ImageError) when the header declares more than `max_pixels`
    pixels or a side over MAX_IMAGE_SIDE: raised before decoding, in microseconds.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) == 0:
        raise ImageError(f"{what} is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLargeError(f"{what} is {len(data)} bytes, over the {MAX_IMAGE_BYTES} byte bound")
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE:
                raise ImageTooLargeError(f"{what} is {w}x{h}, larger than the {MAX_IMAGE_SIDE}px bound")
            if w * h > max_pixels:
                raise ImageTooLargeError(f"{what} is {w}x{h} = {w * h} pixels, over the {max_pixels} pixel bound")
            return check_image(_to_rgb8(img, what), what)
    except Image.DecompressionBombError as exc:  # Pillow's own bound, hit in Image.open for huge declared sizes
        raise ImageTooLargeError(f"{what} is too large to decode: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{what} cannot be decoded: not an image format Pillow reads") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{what} cannot be decoded: {exc}") from None


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8; ImageError for a missing, empty, unreadable or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image file not found: {path}")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ImageTooLargeError(f"{path} is {path.stat().st_size} bytes, over the {MAX_IMAGE_BYTES} byte bound")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return decode_image_bytes(data, what=str(path))


def encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(check_image(image)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def save_png(image: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    path.write_bytes(encode_png(image))
    return path


def image_to_base64(image: np.ndarray) -> str:
    """PNG bytes as base64 text (the InterleaveThinker generator contract and OpenAI image parts)."""
    return base64.b64encode(encode_png(image)).decode("ascii")


def image_from_base64(text: str, what: str = "image", max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Accepts raw base64 or a `data:image/...;base64,` URL."""
    if not isinstance(text, str):
        raise ImageError(f"{what} must be a base64 string, got {type(text).__name__}")
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    if len(text) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ImageTooLargeError(f"{what} base64 is over the {MAX_IMAGE_BYTES} byte bound")
    try:
        data = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise ImageError(f"{what} is not valid base64: {exc}") from None
    return decode_image_bytes(data, what, max_pixels)

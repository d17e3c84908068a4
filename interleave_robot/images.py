"""Image helpers shared by every component: RGB uint8 HxWx3 numpy arrays throughout.

Sizes are bounded so that a hostile or corrupt input cannot exhaust memory.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from interleave_robot.errors import ImageError

MAX_IMAGE_SIDE = 8192
MAX_IMAGE_BYTES = 64 * 1024 * 1024


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


def decode_image_bytes(data: bytes, what: str = "image") -> np.ndarray:
    """Decode PNG/JPEG/... bytes to RGB uint8; raise ImageError if corrupt or too large."""
    from PIL import Image, UnidentifiedImageError

    if len(data) == 0:
        raise ImageError(f"{what} is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"{what} is {len(data)} bytes, over the {MAX_IMAGE_BYTES} byte bound")
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE:
                raise ImageError(f"{what} is {w}x{h}, larger than the {MAX_IMAGE_SIDE}px bound")
            return check_image(np.asarray(img.convert("RGB"), dtype=np.uint8).copy(), what)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{what} cannot be decoded: {exc}") from None


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8; ImageError for a missing, empty or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image file not found: {path}")
    return decode_image_bytes(path.read_bytes(), what=str(path))


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


def image_from_base64(text: str, what: str = "image") -> np.ndarray:
    """Accepts raw base64 or a `data:image/...;base64,` URL."""
    if not isinstance(text, str):
        raise ImageError(f"{what} must be a base64 string, got {type(text).__name__}")
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    if len(text) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ImageError(f"{what} base64 is over the {MAX_IMAGE_BYTES} byte bound")
    try:
        data = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise ImageError(f"{what} is not valid base64: {exc}") from None
    return decode_image_bytes(data, what)

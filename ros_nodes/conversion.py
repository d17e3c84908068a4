"""sensor_msgs Image/CompressedImage <-> RGB numpy arrays, with the checks a node needs.

A message a node receives is untrusted: every disagreement between the header fields and
the payload is an ImageError naming the field, never an IndexError deep inside numpy.
Only 8-bit encodings are accepted (the pipeline works on RGB uint8); 16-bit and float
encodings are refused by name rather than silently misread.
"""
from __future__ import annotations

import numpy as np

from interleave_robot.errors import ImageError
from interleave_robot.images import MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, check_image, decode_image_bytes, encode_png
from interleave_robot.ros_nodes.messages import CompressedImage, Header, Image, Time

# encoding -> (channels, the channel slice that reads it as RGB, or None for mono). Slices,
# not index lists: numpy then makes views, and a 640x480 frame converts in one copy.
ENCODINGS: dict[str, tuple[int, slice | None]] = {
    "rgb8": (3, slice(0, 3)),
    "bgr8": (3, slice(2, None, -1)),
    "rgba8": (4, slice(0, 3)),
    "bgra8": (4, slice(2, None, -1)),
    "mono8": (1, None),
}


def make_header(stamp_s: float = 0.0, frame_id: str = "") -> Header:
    return Header(stamp=Time.from_seconds(stamp_s), frame_id=frame_id)


def numpy_to_image(image: np.ndarray, header: Header | None = None, encoding: str = "rgb8") -> Image:
    """RGB uint8 HxWx3 -> sensor_msgs/Image in `encoding` (rgb8 sends the array as is)."""
    check_image(image)
    if encoding not in ENCODINGS:
        raise ImageError(f"unknown image encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    channels, order = ENCODINGS[encoding]
    height, width = image.shape[:2]
    if order is None:
        # ITU-R 601 luma, the usual RGB -> mono conversion
        pixels = (image @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)
    elif channels == 4:
        pixels = np.empty((height, width, 4), dtype=np.uint8)
        pixels[..., :3] = image[..., order]
        pixels[..., 3] = 255
    else:
        pixels = image[..., order]
    return Image(header=header or Header(), height=height, width=width, encoding=encoding,
                 is_bigendian=0, step=width * channels, data=pixels.tobytes())


def check_image_msg(msg: Image) -> None:
    """Raise ImageError if the header fields and the payload of `msg` disagree (no pixel copy)."""
    if msg.encoding not in ENCODINGS:
        raise ImageError(f"unknown image encoding {msg.encoding!r}; known: {', '.join(ENCODINGS)}")
    channels, order = ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageError(f"image is empty ({width}x{height})")
    if height > MAX_IMAGE_SIDE or width > MAX_IMAGE_SIDE:
        raise ImageError(f"image is {width}x{height}, larger than the {MAX_IMAGE_SIDE}px bound")
    if step < width * channels:
        raise ImageError(f"image step {step} is smaller than width*channels = {width}*{channels} "
                         f"for encoding {msg.encoding}")
    if len(msg.data) != step * height:
        raise ImageError(f"image data has {len(msg.data)} bytes, but step*height = {step}*{height} = "
                         f"{step * height}")
    if len(msg.data) > MAX_IMAGE_BYTES:
        raise ImageError(f"image data is {len(msg.data)} bytes, over the {MAX_IMAGE_BYTES} byte bound")


def image_to_numpy(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> RGB uint8 HxWx3 (a copy); ImageError naming any inconsistency."""
    check_image_msg(msg)
    channels, order = ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    pixels = rows[:, : width * channels].reshape(height, width, channels)
    if order is None:
        return np.repeat(pixels, 3, axis=2)
    return np.array(pixels[..., order], order="C")  # one copy: writable, owns its memory


def numpy_to_compressed(image: np.ndarray, header: Header | None = None) -> CompressedImage:
    """RGB uint8 -> sensor_msgs/CompressedImage holding PNG bytes (lossless: subgoals stay exact)."""
    return CompressedImage(header=header or Header(), format="png", data=encode_png(image))


def compressed_to_numpy(msg: CompressedImage) -> np.ndarray:
    """sensor_msgs/CompressedImage (png, jpeg, ... as Pillow reads them) -> RGB uint8."""
    return decode_image_bytes(bytes(msg.data), what=f"compressed image ({msg.format or 'no format'})")

"""Image <-> numpy for every encoding, and typed errors for every inconsistent message."""
import numpy as np
import pytest

from interleave_robot.errors import ImageError
from interleave_robot.ros_nodes.conversion import (ENCODINGS, compressed_to_numpy, image_to_numpy, numpy_to_compressed,
                                                   numpy_to_image)
from interleave_robot.ros_nodes.messages import CompressedImage, Image

RGB = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_round_trip(encoding):
    msg = numpy_to_image(RGB, encoding=encoding)
    channels = ENCODINGS[encoding][0]
    assert (msg.width, msg.height, msg.step, len(msg.data)) == (7, 5, 7 * channels, 35 * channels)
    np.testing.assert_array_equal(image_to_numpy(Image.deserialize(msg.serialize())), RGB)


def test_bgr_channel_order_on_the_wire():
    msg = numpy_to_image(RGB, encoding="bgr8")
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(5, 7, 3)
    np.testing.assert_array_equal(raw, RGB[..., ::-1])


def test_mono8_is_grey_replicated():
    grey = np.full((4, 4, 3), 77, dtype=np.uint8)
    out = image_to_numpy(numpy_to_image(grey, encoding="mono8"))
    np.testing.assert_array_equal(out, grey)


def test_row_padding_is_skipped():
    step = 7 * 3 + 5
    padded = np.zeros((5, step), dtype=np.uint8)
    padded[:, :21] = RGB.reshape(5, 21)
    msg = Image(height=5, width=7, encoding="rgb8", step=step, data=padded.tobytes())
    np.testing.assert_array_equal(image_to_numpy(msg), RGB)


@pytest.mark.parametrize("fields, words", [
    (dict(encoding="16UC1"), "unknown image encoding"),
    (dict(height=0, data=b""), "empty"),
    (dict(width=0, step=0, data=b""), "empty"),
    (dict(height=9000, width=1, step=3, data=b"\0" * 27000), "larger than"),
    (dict(step=20), "smaller than width"),
    (dict(data=b"\0" * 104), r"step\*height"),
    (dict(height=6), r"step\*height"),
])
def test_inconsistent_messages_raise_image_error(fields, words):
    msg = numpy_to_image(RGB)
    for key, value in fields.items():
        setattr(msg, key, value)
    with pytest.raises(ImageError, match=words):
        image_to_numpy(msg)


def test_compressed_png_round_trip_and_garbage():
    msg = numpy_to_compressed(RGB)
    assert msg.format == "png"
    np.testing.assert_array_equal(compressed_to_numpy(CompressedImage.deserialize(msg.serialize())), RGB)
    with pytest.raises(ImageError, match="cannot be decoded"):
        compressed_to_numpy(CompressedImage(format="jpeg", data=b"not an image"))
    with pytest.raises(ImageError, match="empty"):
        compressed_to_numpy(CompressedImage(format="png", data=b""))

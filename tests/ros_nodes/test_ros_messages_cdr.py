"""Our CDR bytes must equal rosbags' independent ROS 2 serializer (Humble and Jazzy typestores)."""
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from interleave_robot.ros_nodes.messages import (CompressedImage, Header, Image, String, Subgoal, Time, dds_type_name,
                                                 register_custom_types)

STORES = [Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY]


def _ros(ts, name, **fields):
    return ts.types[name](**fields)


def _ros_header(ts, sec, nanosec, frame_id):
    return _ros(ts, "std_msgs/msg/Header", stamp=_ros(ts, "builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec),
                frame_id=frame_id)


def _cases(ts):
    """(our message, rosbags message, ROS type name), covering odd sizes so alignment matters."""
    rng = np.random.default_rng(3)
    cases = []
    for h, w, enc, ch in [(3, 5, "rgb8", 3), (7, 3, "mono8", 1), (2, 2, "bgra8", 4), (480, 640, "rgb8", 3)]:
        data = rng.integers(0, 256, size=h * w * ch, dtype=np.uint8)
        for frame in ("", "cam", "camera_optical_frame"):
            ours = Image(header=Header(Time(-5, 999_999_999), frame), height=h, width=w, encoding=enc,
                         is_bigendian=0, step=w * ch, data=data.tobytes())
            theirs = _ros(ts, "sensor_msgs/msg/Image", header=_ros_header(ts, -5, 999_999_999, frame), height=h,
                          width=w, encoding=enc, is_bigendian=0, step=w * ch, data=data)
            cases.append((ours, theirs, "sensor_msgs/msg/Image"))
    for text in ("", "a", "stack the red block on the blue one", "ünïcödé ✓", "x" * 1001):
        cases.append((String(text), _ros(ts, "std_msgs/msg/String", data=text), "std_msgs/msg/String"))
        cases.append((Header(Time(12, 34), text), _ros_header(ts, 12, 34, text), "std_msgs/msg/Header"))
    cases.append((Time(2**31 - 1, 2**32 - 1), _ros(ts, "builtin_interfaces/msg/Time", sec=2**31 - 1, nanosec=2**32 - 1),
                  "builtin_interfaces/msg/Time"))
    for fmt, size in (("png", 0), ("jpeg", 1), ("rgb8; png compressed", 1023)):
        data = rng.integers(0, 256, size=size, dtype=np.uint8)
        cases.append((CompressedImage(Header(Time(1, 2), "f"), fmt, data.tobytes()),
                      _ros(ts, "sensor_msgs/msg/CompressedImage", header=_ros_header(ts, 1, 2, "f"), format=fmt,
                           data=data), "sensor_msgs/msg/CompressedImage"))
    for flagged, reason in ((False, ""), (True, "2 of 3 attempts rejected by the critic")):
        data = rng.integers(0, 256, size=2 * 3 * 3, dtype=np.uint8)
        ours_img = Image(Header(Time(5, 6), "cam"), 2, 3, "rgb8", 0, 9, data.tobytes())
        theirs_img = _ros(ts, "sensor_msgs/msg/Image", header=_ros_header(ts, 5, 6, "cam"), height=2, width=3,
                          encoding="rgb8", is_bigendian=0, step=9, data=data)
        ours = Subgoal(Header(Time(7, 8), "subgoal"), "job-1", 2, 3, "put the red block on the blue one",
                       "Move the red block onto the blue block.", ours_img, flagged, reason)
        theirs = _ros(ts, "interleave_robot_interfaces/msg/Subgoal", header=_ros_header(ts, 7, 8, "subgoal"),
                      task_id="job-1", step_index=2, num_steps=3, instruction="put the red block on the blue one",
                      prompt="Move the red block onto the blue block.", image=theirs_img, flagged=flagged,
                      flag_reason=reason)
        cases.append((ours, theirs, "interleave_robot_interfaces/msg/Subgoal"))
    return cases


@pytest.mark.parametrize("store", STORES, ids=lambda s: s.name)
def test_cdr_bytes_equal_rosbags(store):
    ts = get_typestore(store)
    register_custom_types(ts)  # our Subgoal, from the .msg file the interfaces package builds
    for ours, theirs, name in _cases(ts):
        expected = bytes(ts.serialize_cdr(theirs, name))
        got = ours.serialize()
        assert got == expected, f"{name}: {ours!r:.200}"
        # ... and both directions read back: ours from rosbags' bytes, rosbags from ours.
        back = type(ours).deserialize(expected)
        assert back.serialize() == expected
        assert bytes(ts.serialize_cdr(ts.deserialize_cdr(got, name), name)) == expected


def test_wire_type_names_follow_ros2():
    assert dds_type_name(Image) == "sensor_msgs::msg::dds_::Image_"
    assert Image.__idl_typename__ == "sensor_msgs::msg::dds_::Image_"
    assert String.__idl_typename__ == "std_msgs::msg::dds_::String_"
    assert CompressedImage.__idl_typename__ == "sensor_msgs::msg::dds_::CompressedImage_"
    assert Header.__idl_typename__ == "std_msgs::msg::dds_::Header_"
    assert Time.__idl_typename__ == "builtin_interfaces::msg::dds_::Time_"
    assert Subgoal.__idl_typename__ == "interleave_robot_interfaces::msg::dds_::Subgoal_"


def test_subgoal_struct_follows_the_msg_file():
    """One definition (Subgoal.msg); the Cyclone struct's fields are its fields, in order."""
    import dataclasses

    from interleave_robot.ros_nodes.messages import Subgoal, subgoal_definition

    fields = [line.split("#")[0].split() for line in subgoal_definition().splitlines()]
    names = [f[1] for f in fields if len(f) == 2]
    assert names == [f.name for f in dataclasses.fields(Subgoal)]


def test_image_data_reads_back_as_bytes():
    msg = Image(height=1, width=2, encoding="mono8", step=2, data=bytes([7, 9]))
    back = Image.deserialize(msg.serialize())
    assert isinstance(back.data, bytes) and back.data == bytes([7, 9])

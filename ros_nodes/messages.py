"""ROS 2 message types as Cyclone DDS IDL structs, under ROS 2's DDS type names.

rmw_cyclonedds names a ROS type `pkg/msg/Type` on the wire `pkg::msg::dds_::Type_`, and
serializes it as plain XCDR1. These structs reproduce that layout field by field, so a
sample written here is byte-identical to what rosbags (an independent ROS 2 serializer)
produces for Humble and Jazzy; tests/ros_nodes/test_messages_cdr.py checks every type.

`uint8[]` fields (image data) are declared `sequence[uint8]`, so the type information Cyclone
announces is ROS's, but their (de)serializer is swapped for Cyclone's bulk byte machine
(`_bulk_uint8`): it writes the 4-byte length and the payload in one copy, the same bytes as
the element-by-element sequence code but ~200x faster for a 640x480 image (~0.25 ms instead
of ~45 ms), and reading gives back `bytes` that numpy views without per-element work.
Values of such fields are bytes-like (bytes, bytearray, memoryview, a 1-D uint8 array).

Importing this module imports cyclonedds at module level, the one exception to the
function-level rule for heavy stacks: the structs are IdlStruct classes. It is light (ctypes
over the bundled C library), and only the DDS edge imports this module; the rest of
interleave_robot never imports cyclonedds at top level.
"""
# No `from __future__ import annotations`: Cyclone resolves field annotations at runtime.

from dataclasses import dataclass, field
from pathlib import Path

from cyclonedds.idl import IdlStruct
from cyclonedds.idl._machinery import BytesMachine
from cyclonedds.idl.types import int32, sequence, uint8, uint32


def _bulk_uint8(cls: type, member: str) -> type:
    """Serialize `cls.member` (a sequence[uint8]) as one block of bytes; same wire format."""
    cls.__idl__.populate()
    for machine in (cls.__idl__.v1_machine, cls.__idl__.v2_machine):
        machine.members_machines[member] = BytesMachine()
    return cls


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    """builtin_interfaces/msg/Time."""

    sec: int32 = 0
    nanosec: uint32 = 0

    @classmethod
    def from_seconds(cls, seconds: float) -> "Time":
        nanos = int(round(seconds * 1e9))
        return cls(sec=nanos // 1_000_000_000, nanosec=nanos % 1_000_000_000)

    def to_seconds(self) -> float:
        return self.sec + self.nanosec * 1e-9

    def to_nanoseconds(self) -> int:
        return self.sec * 1_000_000_000 + self.nanosec


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    """std_msgs/msg/Header (ROS 2: no seq field)."""

    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class String(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    """std_msgs/msg/String."""

    data: str = ""


@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    """sensor_msgs/msg/Image; `data` is the raw uint8[] payload as bytes."""

    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    encoding: str = ""
    is_bigendian: uint8 = 0
    step: uint32 = 0
    data: sequence[uint8] = b""


@dataclass
class CompressedImage(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    """sensor_msgs/msg/CompressedImage; `format` is e.g. "png" or "jpeg" (or "rgb8; png compressed")."""

    header: Header = field(default_factory=Header)
    format: str = ""
    data: sequence[uint8] = b""


_bulk_uint8(Image, "data")
_bulk_uint8(CompressedImage, "data")


@dataclass
class Subgoal(IdlStruct, typename="interleave_robot_interfaces::msg::dds_::Subgoal_"):
    """interleave_robot_interfaces/msg/Subgoal (ros_nodes/interfaces/): a subgoal image with its text."""

    header: Header = field(default_factory=Header)
    task_id: str = ""
    step_index: uint32 = 0
    num_steps: uint32 = 0
    instruction: str = ""
    prompt: str = ""
    image: Image = field(default_factory=Image)
    flagged: bool = False
    flag_reason: str = ""


# The one definition of Subgoal is the .msg file colcon builds (ros_nodes/interfaces/); rosbags
# reads that file too (register_custom_types), and a test checks the struct above against it.
# Installed as package data beside this module (setup.py package_data).
SUBGOAL_MSG_PATH = Path(__file__).parent / "interfaces" / "interleave_robot_interfaces" / "msg" / "Subgoal.msg"


def subgoal_definition() -> str:
    """The text of Subgoal.msg."""
    return SUBGOAL_MSG_PATH.read_text(encoding="utf-8")


# ROS 2 type name (as rosbags, ros2 topic and MCAP schemas spell it) -> our struct.
ROS_TYPES: dict[str, type] = {
    "builtin_interfaces/msg/Time": Time,
    "std_msgs/msg/Header": Header,
    "std_msgs/msg/String": String,
    "sensor_msgs/msg/Image": Image,
    "sensor_msgs/msg/CompressedImage": CompressedImage,
    "interleave_robot_interfaces/msg/Subgoal": Subgoal,
}
ROS_NAME: dict[type, str] = {cls: name for name, cls in ROS_TYPES.items()}


def register_custom_types(typestore) -> None:
    """Teach a rosbags typestore our own messages (from the .msg files we ship)."""
    from rosbags.typesys import get_types_from_msg

    name = "interleave_robot_interfaces/msg/Subgoal"
    if name not in typestore.types:
        typestore.register(get_types_from_msg(subgoal_definition(), name))


def ros_type_name(msg_type: type) -> str:
    """'sensor_msgs/msg/Image' for our Image struct; KeyError for a type not listed here."""
    return ROS_NAME[msg_type]


def dds_type_name(msg_type: type) -> str:
    """The DDS wire name, e.g. 'sensor_msgs::msg::dds_::Image_'."""
    pkg, _, name = ros_type_name(msg_type).split("/")
    return f"{pkg}::msg::dds_::{name}_"

"""Recording the guidance stream to a ROS 2 bag in MCAP storage (rosbags writes it).

The bag is a folder with `<name>.mcap` and `metadata.yaml` (the rosbag2 metadata that
`ros2 bag play`/`ros2 bag info` read, with each topic's offered QoS so that playback
publishes the plan transient-local again). Each MCAP channel carries the `ros2msg` schema,
so Foxglove shows the images and strings without ROS installed. Messages are written as the
exact CDR bytes that went over the wire (ours equal rosbags' serializer, tested).

    with BagRecorder("runs/guidance_bag") as bag:
        bag.record(transport, GUIDANCE_TOPICS)   # subscribe and write what arrives
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes import qos as qos_profiles
from interleave_robot.ros_nodes.messages import Image, String, Subgoal, register_custom_types, ros_type_name
from interleave_robot.ros_nodes.qos import QosProfile
from interleave_robot.ros_nodes.transport import Transport

DISTROS = ("humble", "jazzy")
BAG_VERSION = 8  # rosbag2 metadata version written (Iron/Jazzy); see docs/ROS2.md for Humble


@dataclass(frozen=True)
class RecordedTopic:
    name: str
    msg_type: type
    qos: QosProfile


def guidance_topics(camera_topic: str = "/camera/image_raw", prefix: str = "/interleave",
                    subgoal_messages: bool = False) -> list[RecordedTopic]:
    """The guidance stream: camera frames, plan, subgoal images and texts, status (and the
    combined Subgoal messages when the node publishes them on `<prefix>/subgoal`)."""
    topics = [RecordedTopic(camera_topic, Image, qos_profiles.SENSOR_DATA),
              RecordedTopic(f"{prefix}/plan", String, qos_profiles.LATCHED),
              RecordedTopic(f"{prefix}/subgoal/image", Image, qos_profiles.RELIABLE),
              RecordedTopic(f"{prefix}/subgoal/text", String, qos_profiles.RELIABLE),
              RecordedTopic(f"{prefix}/status", String, qos_profiles.RELIABLE)]
    if subgoal_messages:
        topics.append(RecordedTopic(f"{prefix}/subgoal", Subgoal, qos_profiles.RELIABLE))
    return topics


def _rosbags_qos(profile: QosProfile):
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    reliability = {"reliable": QosReliability.RELIABLE, "best_effort": QosReliability.BEST_EFFORT}
    durability = {"volatile": QosDurability.VOLATILE, "transient_local": QosDurability.TRANSIENT_LOCAL}
    forever = QosTime(sec=2147483647, nsec=4294967295)
    return Qos(history=QosHistory.KEEP_LAST, depth=profile.depth, reliability=reliability[profile.reliability],
               durability=durability[profile.durability], deadline=forever, lifespan=forever,
               liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=forever,
               avoid_ros_namespace_conventions=False)


class BagRecorder:
    """Writes messages (structs of messages.py) to an MCAP ROS 2 bag. Thread-safe."""

    def __init__(self, path: str | Path, distro: str = "humble"):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        if distro not in DISTROS:
            raise ConfigError(f"BagRecorder distro must be one of {DISTROS}, got {distro!r}")
        self.path = Path(path)
        if self.path.exists():
            raise ConfigError(f"bag {self.path} already exists; choose a new path")
        self._typestore = get_typestore(Stores.ROS2_HUMBLE if distro == "humble" else Stores.ROS2_JAZZY)
        register_custom_types(self._typestore)  # the Subgoal schema goes into the MCAP file too
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, object] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self._closed = False

    def add_topic(self, topic: RecordedTopic) -> None:
        with self._lock:
            if topic.name not in self._connections:
                self._connections[topic.name] = self._writer.add_connection(
                    topic.name, ros_type_name(topic.msg_type), typestore=self._typestore,
                    offered_qos_profiles=[_rosbags_qos(topic.qos)])
                self.counts[topic.name] = 0

    def write(self, topic: str, msg, timestamp_ns: int | None = None) -> None:
        """Write one message on a topic added before; the timestamp defaults to now."""
        data = msg.serialize()
        with self._lock:
            if self._closed:
                return  # late messages after close are dropped, not an error
            if topic not in self._connections:
                raise ConfigError(f"topic {topic} was not added to the bag")
            self._writer.write(self._connections[topic], timestamp_ns or time.time_ns(), data)
            self.counts[topic] += 1

    def record(self, transport: Transport, topics: list[RecordedTopic]) -> None:
        """Subscribe to `topics` on `transport` and write everything that arrives."""
        for topic in topics:
            self.add_topic(topic)
            transport.subscribe(topic.name, topic.msg_type, topic.qos,
                                lambda msg, name=topic.name: self.write(name, msg))

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()

    def __enter__(self) -> "BagRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_bag(path: str | Path) -> list[tuple[str, str, int, object]]:
    """(topic, ROS type, timestamp ns, rosbags-deserialized message) for every message, in order."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_HUMBLE)
    register_custom_types(typestore)
    out = []
    with Reader(Path(path)) as reader:
        for connection, timestamp, raw in reader.messages():
            out.append((connection.topic, connection.msgtype, timestamp,
                        typestore.deserialize_cdr(raw, connection.msgtype)))
    return out

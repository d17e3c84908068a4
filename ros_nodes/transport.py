"""The transport interface the node logic is written against: publishers and subscriptions.

Two implementations: `transport_dds.DDSTransport` (Cyclone DDS directly, ROS 2 wire
conventions; no ROS installation needed) and `transport_rclpy.RclpyTransport` (inside a
real rclpy node). Messages are the structs of `messages.py` on both: the rclpy transport
converts them to and from the generated ROS classes at the edge.

Topic names are ROS names (`/camera/image_raw`); each transport maps them to its wire
names. Callbacks run on a transport thread and must return quickly: node logic stores the
message and hands long work to its own worker thread.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

from interleave_robot.ros_nodes.qos import QosProfile

Callback = Callable[[object], None]


class Publisher(ABC):
    @abstractmethod
    def publish(self, msg: object) -> None:
        """Send one message (a struct of messages.py)."""

    @abstractmethod
    def matched_count(self) -> int:
        """How many subscriptions currently match (0 while discovery runs or no peer exists)."""

    def close(self) -> None:
        """Release the publisher (idempotent). Default: nothing to release."""


class Subscription(ABC):
    @abstractmethod
    def matched_count(self) -> int:
        """How many publishers currently match."""

    def close(self) -> None:
        """Release the subscription (idempotent): no callback runs after it returns."""


class Transport(ABC):
    """A publisher/subscription factory bound to one participant (or rclpy node)."""

    @abstractmethod
    def publisher(self, topic: str, msg_type: type, qos: QosProfile) -> Publisher:
        """A publisher of `msg_type` (a struct of messages.py) on ROS topic `topic`."""

    @abstractmethod
    def subscribe(self, topic: str, msg_type: type, qos: QosProfile, callback: Callback) -> Subscription:
        """Call `callback(msg)` for each message received on `topic`."""

    @property
    @abstractmethod
    def logger(self):
        """Where node logic logs (info/warning/error): the rclpy node's logger (so /rosout and
        `ros2 run`'s console get it), or Python logging over DDS-direct."""

    @abstractmethod
    def qos_warnings(self) -> list[str]:
        """QoS incompatibilities met so far (e.g. reliable subscription vs best-effort
        publisher), newest last; each is also logged as a warning when it happens."""

    @abstractmethod
    def close(self) -> None:
        """Release every publisher and subscription and the participant."""

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

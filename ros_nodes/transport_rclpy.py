"""The Transport over rclpy, for the nodes run by `ros2 run` / `ros2 launch`.

Imported only where rclpy exists (inside the node entry points). Node logic keeps using
the structs of messages.py; they are converted to and from the generated ROS classes at
this edge, field by field (image bytes in one copy through array.array).
"""
from __future__ import annotations

import array
import threading

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes import messages as m
from interleave_robot.ros_nodes.qos import QosProfile
from interleave_robot.ros_nodes.transport import Callback, Publisher, Subscription, Transport


def _ros_class(msg_type: type) -> type:
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import String

    classes = {m.String: String, m.Image: Image, m.CompressedImage: CompressedImage}
    if msg_type is m.Subgoal:
        try:
            from interleave_robot_interfaces.msg import Subgoal
        except ImportError:
            raise ConfigError("the Subgoal topic needs the interleave_robot_interfaces package (build "
                              "ros_nodes/interfaces with colcon) or subgoal_topic set to ''") from None
        classes[m.Subgoal] = Subgoal
    return classes[msg_type]


def _header_to_ros(h: m.Header):
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    return Header(stamp=Time(sec=h.stamp.sec, nanosec=h.stamp.nanosec), frame_id=h.frame_id)


def _header_from_ros(h) -> m.Header:
    return m.Header(stamp=m.Time(sec=h.stamp.sec, nanosec=h.stamp.nanosec), frame_id=h.frame_id)


def to_ros(msg):
    """A struct of messages.py -> the generated rclpy message."""
    cls = _ros_class(type(msg))
    if isinstance(msg, m.String):
        return cls(data=msg.data)
    if isinstance(msg, m.Image):
        return cls(header=_header_to_ros(msg.header), height=msg.height, width=msg.width, encoding=msg.encoding,
                   is_bigendian=msg.is_bigendian, step=msg.step, data=array.array("B", msg.data))
    if isinstance(msg, m.Subgoal):
        return cls(header=_header_to_ros(msg.header), task_id=msg.task_id, step_index=msg.step_index,
                   num_steps=msg.num_steps, instruction=msg.instruction, prompt=msg.prompt, image=to_ros(msg.image),
                   flagged=msg.flagged, flag_reason=msg.flag_reason)
    return cls(header=_header_to_ros(msg.header), format=msg.format, data=array.array("B", msg.data))


def from_ros(msg, msg_type: type):
    """The generated rclpy message -> the struct of messages.py `msg_type`."""
    if msg_type is m.String:
        return m.String(data=msg.data)
    if msg_type is m.Image:
        return m.Image(header=_header_from_ros(msg.header), height=msg.height, width=msg.width,
                       encoding=msg.encoding, is_bigendian=msg.is_bigendian, step=msg.step, data=bytes(msg.data))
    if msg_type is m.Subgoal:
        return m.Subgoal(header=_header_from_ros(msg.header), task_id=msg.task_id, step_index=msg.step_index,
                         num_steps=msg.num_steps, instruction=msg.instruction, prompt=msg.prompt,
                         image=from_ros(msg.image, m.Image), flagged=msg.flagged, flag_reason=msg.flag_reason)
    return m.CompressedImage(header=_header_from_ros(msg.header), format=msg.format, data=bytes(msg.data))


def _event_callbacks():
    # rclpy moved these classes from rclpy.qos_event (Humble) to rclpy.event_handler (Iron+).
    try:
        from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
    except ImportError:
        from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks
    return PublisherEventCallbacks, SubscriptionEventCallbacks


def rclpy_qos(profile: QosProfile):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    reliability = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
    durability = {"volatile": DurabilityPolicy.VOLATILE, "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=profile.depth,
                      reliability=reliability[profile.reliability], durability=durability[profile.durability])


class _RclpyPublisher(Publisher):
    def __init__(self, node, publisher):
        self._node, self._pub = node, publisher

    def publish(self, msg) -> None:
        self._pub.publish(to_ros(msg))

    def matched_count(self) -> int:
        return self._pub.get_subscription_count()  # matched subscriptions only (rmw)

    def close(self) -> None:
        self._node.destroy_publisher(self._pub)  # False, nothing done, the second time


class _RclpySubscription(Subscription):
    def __init__(self, node, subscription):
        self._node, self._sub = node, subscription
        self._closed = False

    def matched_count(self) -> int:
        # Matched publishers only: node.count_publishers(topic) also counts publishers whose
        # QoS does not match (a best-effort one for a reliable subscription), issue 11 item 8.
        return self._sub.get_publisher_count()

    def close(self) -> None:
        self._closed = True  # a callback already taken by the executor is dropped
        self._node.destroy_subscription(self._sub)


class RclpyTransport(Transport):
    """Publishers and subscriptions of one rclpy node (the node spins elsewhere)."""

    def __init__(self, node):
        self.node = node
        self._warnings: list[str] = []
        self._lock = threading.Lock()

    def _warn(self, text: str) -> None:
        self.node.get_logger().warning(text)
        with self._lock:
            self._warnings.append(text)

    def publisher(self, topic: str, msg_type: type, qos: QosProfile) -> Publisher:
        PublisherEventCallbacks, _ = _event_callbacks()
        events = PublisherEventCallbacks(incompatible_qos=lambda info: self._warn(
            f"publisher on {topic} offers QoS incompatible with a subscription ({info.last_policy_kind}); "
            "that subscription receives nothing"))
        pub = self.node.create_publisher(_ros_class(msg_type), topic, rclpy_qos(qos), event_callbacks=events)
        return _RclpyPublisher(self.node, pub)

    def subscribe(self, topic: str, msg_type: type, qos: QosProfile, callback: Callback) -> Subscription:
        _, SubscriptionEventCallbacks = _event_callbacks()
        events = SubscriptionEventCallbacks(incompatible_qos=lambda info: self._warn(
            f"subscription on {topic} requests QoS a publisher does not offer ({info.last_policy_kind}); "
            "it receives nothing from that publisher"))
        holder: list = []

        def on_message(msg) -> None:
            if not holder[0]._closed:
                callback(from_ros(msg, msg_type))

        sub = self.node.create_subscription(_ros_class(msg_type), topic, on_message, rclpy_qos(qos),
                                            event_callbacks=events)
        holder.append(_RclpySubscription(self.node, sub))
        return holder[0]

    @property
    def logger(self):
        return self.node.get_logger()  # console and /rosout

    def qos_warnings(self) -> list[str]:
        with self._lock:
            return list(self._warnings)

    def close(self) -> None:
        """Endpoints belong to the node: destroying the node releases them."""

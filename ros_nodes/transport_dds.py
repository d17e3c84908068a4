"""The Transport over Cyclone DDS directly, speaking ROS 2's wire conventions.

What makes a ROS 2 node (rmw_cyclonedds) see these topics as its own:
- topic `rt<ros name>` (`/camera/image_raw` -> `rt/camera/image_raw`);
- type name `pkg::msg::dds_::Type_` and plain XCDR1 data (messages.py);
- ROS QoS mapped one to one (qos.py). rmw accepts endpoints without `typehash=` user data.

`loopback=True` confines discovery and data to 127.0.0.1 (interface lo, multicast off,
unicast peer 127.0.0.1): what tests and single-host demos want, and what keeps parallel
test runs on different domain ids from seeing each other. Without it the participant uses
Cyclone's defaults or the CYCLONEDDS_URI environment variable, like any ROS 2 process.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes.qos import QosProfile
from interleave_robot.ros_nodes.transport import Callback, Publisher, Subscription, Transport

log = logging.getLogger(__name__)

MAX_DOMAIN_ID = 232  # the highest id whose RTPS ports fit in 16 bits with default port mapping
TAKE_BATCH = 64
_POLICY_NAMES = {2: "durability", 4: "deadline", 6: "ownership", 8: "liveliness", 11: "reliability",
                 12: "destination order", 23: "data representation"}  # DDS QosPolicyId_t


def _policy(status) -> str:
    return _POLICY_NAMES.get(status.last_policy_id, f"policy id {status.last_policy_id}")

_domains: dict[int, tuple[str | None, object]] = {}  # domain id -> (config xml, Domain)
_domains_lock = threading.Lock()


def cyclone_config_xml(loopback: bool, peers: list[str], max_message_kb: int = 0) -> str | None:
    """A Cyclone DDS configuration for the options, or None for Cyclone's own defaults.

    `max_message_kb` > 0 raises Cyclone's RTPS message and fragment sizes (defaults ~14 kB and
    1344 B): a 640x480 image then travels in ~15 datagrams instead of ~700. Receivers
    reassemble any fragment size, so peers need not use the same setting; it only suits links
    whose datagrams may be that large (loopback: 64 kB).
    """
    if not loopback and not peers and not max_message_kb:
        return None
    addresses = (["127.0.0.1"] if loopback else []) + list(peers)
    general = "<AllowMulticast>false</AllowMulticast>" if addresses else ""
    if loopback:
        general = '<Interfaces><NetworkInterface name="lo"/></Interfaces>' + general
    if max_message_kb:
        size = max_message_kb * 1024 - 100  # headroom under the datagram limit for IP/UDP headers
        general += f"<MaxMessageSize>{size}B</MaxMessageSize><FragmentSize>{size - 1000}B</FragmentSize>"
    discovery = ""
    if addresses:
        peer_xml = "".join(f'<Peer address="{a}"/>' for a in addresses)
        discovery = ("<Discovery><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>30"
                     f"</MaxAutoParticipantIndex><Peers>{peer_xml}</Peers></Discovery>")
    return f'<CycloneDDS><Domain id="any"><General>{general}</General>{discovery}</Domain></CycloneDDS>'


LOOPBACK_MESSAGE_KB = 64


@dataclass
class DDSConfig:
    """`domain_id` is ROS_DOMAIN_ID; `loopback` limits everything to 127.0.0.1; `peers` adds
    unicast peers (e.g. the GPU host running the generator node) and turns multicast off."""

    domain_id: int = 0
    loopback: bool = False
    peers: list[str] = field(default_factory=list)
    max_message_kb: int = -1  # RTPS datagram size; -1: 64 on loopback, Cyclone's default otherwise; 0: default

    def __post_init__(self):
        if not 0 <= self.domain_id <= MAX_DOMAIN_ID:
            raise ConfigError(f"DDSConfig.domain_id must be in [0, {MAX_DOMAIN_ID}], got {self.domain_id}")
        if not -1 <= self.max_message_kb <= 64:
            raise ConfigError(f"DDSConfig.max_message_kb must be in [-1, 64], got {self.max_message_kb}")
        for peer in self.peers:
            if not peer or any(c in peer for c in "<>\"'& "):
                raise ConfigError(f"DDSConfig.peers: {peer!r} is not a host name or address")


def _domain(domain_id: int, xml: str | None):
    """Cyclone allows one configured Domain per id and process: create it once, reuse it."""
    from cyclonedds.core import DDSException
    from cyclonedds.domain import Domain

    with _domains_lock:
        if domain_id in _domains:
            known_xml, domain = _domains[domain_id]
            if known_xml != xml:
                raise ConfigError(f"DDS domain {domain_id} is already configured differently in this process")
            return domain
        try:
            domain = Domain(domain_id, xml) if xml is not None else None
        except DDSException as exc:
            raise ConfigError(f"cannot configure DDS domain {domain_id}: {exc}") from None
        _domains[domain_id] = (xml, domain)
        return domain


def ros_topic(name: str) -> str:
    """ROS topic name -> DDS topic name (rt/...)."""
    if not name.startswith("/") or name.endswith("/") or "//" in name or " " in name:
        raise ConfigError(f"topic {name!r} is not an absolute ROS topic name like /camera/image_raw")
    return "rt" + name


def _cyclone_qos(profile: QosProfile):
    from cyclonedds.qos import Policy, Qos
    from cyclonedds.util import duration

    reliability = (Policy.Reliability.Reliable(duration(seconds=1)) if profile.reliability == "reliable"
                   else Policy.Reliability.BestEffort)
    durability = (Policy.Durability.TransientLocal if profile.durability == "transient_local"
                  else Policy.Durability.Volatile)
    return Qos(reliability, durability, Policy.History.KeepLast(profile.depth))


def _delete(entity) -> None:
    # Cyclone's Python binding deletes an entity in __del__ (a no-op the second time); deleting a
    # reader waits for its running listener callback, so none runs after this returns.
    entity.__del__()


class _DDSPublisher(Publisher):
    def __init__(self, writer, topic: str):
        self._writer = writer
        self.topic = topic

    def close(self) -> None:
        _delete(self._writer)

    def publish(self, msg: object) -> None:
        self._writer.write(msg)

    def matched_count(self) -> int:
        return len(self._writer.get_matched_subscriptions())


class _DDSSubscription(Subscription):
    def __init__(self, reader, listener):
        self._reader = reader
        self._listener = listener  # kept alive: Cyclone holds only a C pointer to it

    def matched_count(self) -> int:
        return len(self._reader.get_matched_publications())

    def close(self) -> None:
        _delete(self._reader)


class DDSTransport(Transport):
    """One DomainParticipant; publishers and subscriptions created on it. Thread-safe."""

    def __init__(self, config: DDSConfig | None = None):
        from cyclonedds.domain import DomainParticipant

        self.config = config or DDSConfig()
        c = self.config
        kb = (LOOPBACK_MESSAGE_KB if c.loopback else 0) if c.max_message_kb == -1 else c.max_message_kb
        self._domain = _domain(c.domain_id, cyclone_config_xml(c.loopback, c.peers, kb))
        self._participant = DomainParticipant(self.config.domain_id)
        self._topics: dict[str, object] = {}
        self._entities: list[object] = []
        self._warnings: list[str] = []
        self._lock = threading.Lock()
        self._closed = False

    def _topic(self, name: str, msg_type: type):
        from cyclonedds.topic import Topic

        dds_name = ros_topic(name)
        with self._lock:
            if dds_name not in self._topics:
                self._topics[dds_name] = Topic(self._participant, dds_name, msg_type)
            return self._topics[dds_name]

    def _warn(self, text: str) -> None:
        log.warning(text)
        with self._lock:
            self._warnings.append(text)

    def publisher(self, topic: str, msg_type: type, qos: QosProfile) -> Publisher:
        from cyclonedds.core import Listener
        from cyclonedds.pub import DataWriter

        listener = Listener(on_offered_incompatible_qos=lambda _w, status: self._warn(
            f"publisher on {topic} ({qos.reliability}, {qos.durability}) offers QoS incompatible with a "
            f"subscription ({_policy(status)}); that subscription receives nothing"))
        writer = DataWriter(self._participant, self._topic(topic, msg_type), _cyclone_qos(qos), listener=listener)
        self._entities.append((writer, listener))
        return _DDSPublisher(writer, topic)

    def subscribe(self, topic: str, msg_type: type, qos: QosProfile, callback: Callback) -> Subscription:
        from cyclonedds.core import Listener
        from cyclonedds.sub import DataReader

        holder: list = []  # the reader, once created

        def drain() -> None:
            # Transient-local history can arrive while DataReader() is still being built, when
            # the listener has no reader object yet: drain() runs again right after creation.
            if not holder:
                return
            try:
                samples = holder[0].take(TAKE_BATCH)
            except Exception as exc:  # a foreign writer's malformed CDR: report, keep the reader
                self._warn(f"subscription on {topic}: cannot decode a sample: {exc}")
                return
            for sample in samples:
                if not isinstance(sample, msg_type):
                    continue  # instance state notifications (writer gone), not data
                try:
                    callback(sample)
                except Exception:  # a failing callback must not kill Cyclone's listener thread
                    log.exception("callback for %s failed", topic)

        listener = Listener(
            on_data_available=lambda _reader: drain(),
            on_requested_incompatible_qos=lambda _r, status: self._warn(
                f"subscription on {topic} ({qos.reliability}, {qos.durability}) requests QoS that a publisher "
                f"does not offer ({_policy(status)}); it receives nothing from that publisher"))
        reader = DataReader(self._participant, self._topic(topic, msg_type), _cyclone_qos(qos), listener=listener)
        holder.append(reader)
        drain()
        self._entities.append((reader, listener))
        return _DDSSubscription(reader, listener)

    @property
    def logger(self):
        return log

    def qos_warnings(self) -> list[str]:
        with self._lock:
            return list(self._warnings)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Readers and writers before the participant: no listener callback outlives us.
        for entity, _listener in self._entities:
            _delete(entity)
        for topic in self._topics.values():
            _delete(topic)
        _delete(self._participant)
        self._entities.clear()
        self._topics.clear()

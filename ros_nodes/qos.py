"""ROS-style QoS profiles, transport-neutral (each transport maps them to its own QoS objects).

The names follow rclpy's presets so a ROS user recognises them:
- SENSOR_DATA: best effort, volatile, keep last 5 (rclpy.qos.qos_profile_sensor_data).
  Camera frames: a late frame is worthless, the node only ever wants the latest one.
- RELIABLE: reliable, volatile, keep last 10 (rclpy's default profile). Tasks, subgoals,
  status, request/response topics of the split mode.
- LATCHED: reliable, transient local, keep last 1. The plan: a subscriber that starts late
  still receives the current plan (what ROS 1 called a latched topic).

Compatibility is ROS's (and DDS's) request-offered rule: a reliable subscription does not
match a best-effort publisher; a transient-local subscription does not match a volatile
publisher. Transports report such mismatches (`Transport.qos_warnings`), never silently.
"""
from __future__ import annotations

from dataclasses import dataclass

from interleave_robot.errors import ConfigError

RELIABILITIES = ("reliable", "best_effort")
DURABILITIES = ("volatile", "transient_local")


@dataclass(frozen=True)
class QosProfile:
    """reliability, durability and keep-last history depth."""

    reliability: str = "reliable"
    durability: str = "volatile"
    depth: int = 10

    def __post_init__(self):
        if self.reliability not in RELIABILITIES:
            raise ConfigError(f"QosProfile.reliability must be one of {RELIABILITIES}, got {self.reliability!r}")
        if self.durability not in DURABILITIES:
            raise ConfigError(f"QosProfile.durability must be one of {DURABILITIES}, got {self.durability!r}")
        if not 1 <= self.depth <= 10_000:
            raise ConfigError(f"QosProfile.depth must be in [1, 10000], got {self.depth}")

    def compatible_with(self, offered: "QosProfile") -> str | None:
        """For a subscription with this profile and a publisher offering `offered`: None if
        they match, else the reason (the request-offered rule of DDS)."""
        if self.reliability == "reliable" and offered.reliability == "best_effort":
            return "subscription requests reliable but the publisher offers best effort"
        if self.durability == "transient_local" and offered.durability == "volatile":
            return "subscription requests transient local but the publisher offers volatile"
        return None


SENSOR_DATA = QosProfile("best_effort", "volatile", 5)
RELIABLE = QosProfile("reliable", "volatile", 10)
LATCHED = QosProfile("reliable", "transient_local", 1)
PROFILES = {"sensor_data": SENSOR_DATA, "reliable": RELIABLE, "latched": LATCHED}


def profile(name: str) -> QosProfile:
    """A preset by name (for parameters and YAML): sensor_data, reliable, latched."""
    if name not in PROFILES:
        raise ConfigError(f"unknown QoS profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]

"""Declared ROS parameters from config dataclasses, and the same values from YAML for DDS mode.

Every option of a node is a declared parameter with its dataclass default, so
`ros2 param list`/`describe` show them and a params YAML sets them. Mapping and list options
are JSON text parameters (ROS parameters have no mapping type).
"""
from __future__ import annotations

from pathlib import Path

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes.node_setup import config_from_parameters, parameter_defaults


def declare_values(node, config_class: type) -> dict:
    """Declare one parameter per field of `config_class` on an rclpy node (with its default);
    return their current values (defaults, YAML, `--ros-args -p`)."""
    values = {}
    for name, default in parameter_defaults(config_class).items():
        if not node.has_parameter(name):
            node.declare_parameter(name, default)
        values[name] = node.get_parameter(name).value
    return values


def declare_config(node, config_class: type):
    """declare_values, then the config built from them (ConfigError names a bad value)."""
    return config_from_parameters(config_class, declare_values(node, config_class))


def yaml_parameters(path: str | Path | None, node_name: str) -> dict:
    """The `ros__parameters` of `node_name` in a ROS params YAML file (also `/**` wildcards)."""
    import yaml

    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"parameter file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of node names to ros__parameters")
    values: dict = {}
    for key in ("/**", node_name, f"/{node_name}"):
        section = data.get(key) or {}
        values.update(section.get("ros__parameters") or {})
    return values


def split_parameters(values: dict, *config_classes: type) -> list:
    """Build each config class from the values naming its fields; ConfigError for leftovers."""
    known, configs = set(), []
    for cls in config_classes:
        names = set(parameter_defaults(cls))
        known |= names
        configs.append(config_from_parameters(cls, {k: v for k, v in values.items() if k in names}))
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; known: {sorted(known)}")
    return configs

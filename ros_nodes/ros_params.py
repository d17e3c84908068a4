"""Declared ROS parameters from config dataclasses, and the same values from YAML for DDS mode.

Every option of a node is a declared parameter with its dataclass default, so
`ros2 param list`/`describe` show them and a params YAML sets them. Mapping and list options
are JSON text parameters (ROS parameters have no mapping type).
"""
from __future__ import annotations

from pathlib import Path

import yaml

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes.node_setup import config_from_parameters, parameter_defaults


def declare_values(node, config_class: type) -> dict:
    """Declare one parameter per field of `config_class` on an rclpy node (with its default);
    return their current values (defaults, YAML, `--ros-args -p`).

    Parameters are declared with dynamic typing: rclpy would otherwise raise (a traceback)
    for `frame_wait_s: 5` (an int where a float is declared) or a YAML list; the config layer
    coerces and checks values instead (node_setup.config_from_parameters), with the same
    rules for rclpy, params files and `interleave-robot-node -p` (issue 11 item 4).
    """
    from rcl_interfaces.msg import ParameterDescriptor

    for name, default in parameter_defaults(config_class).items():
        if not node.has_parameter(name):
            node.declare_parameter(name, default, ParameterDescriptor(dynamic_typing=True))
    return current_values(node, config_class)


def current_values(node, config_class: type) -> dict:
    """The node's current values of `config_class`'s parameters (re-read on every configure)."""
    return {name: node.get_parameter(name).value for name in parameter_defaults(config_class)}


def declare_config(node, config_class: type):
    """declare_values, then the config built from them (ConfigError names a bad value)."""
    return config_from_parameters(config_class, declare_values(node, config_class))


def reject_bad_parameters(node, check) -> None:
    """Refuse a `set_parameters` whose values do not build a valid config: `check(values)`
    gets the node's values with the new ones applied and raises ConfigError; its message
    becomes the refusal's reason (`ros2 param set` prints it). Nothing is applied then."""
    from rcl_interfaces.msg import SetParametersResult

    def on_set(parameters) -> SetParametersResult:
        values = {name: p.value for name, p in node.get_parameters_by_prefix("").items()}
        values.update({p.name: p.value for p in parameters})
        try:
            check(values)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)


def pick(values: dict, config_class: type) -> dict:
    """The items of `values` that are parameters of `config_class`."""
    names = parameter_defaults(config_class)
    return {k: v for k, v in values.items() if k in names}


def yaml_parameters(path: str | Path | None, node_name: str) -> dict:
    """The `ros__parameters` of `node_name` in a ROS params YAML file (also `/**` wildcards)."""
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

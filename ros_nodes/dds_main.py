"""`interleave-robot-node NODE`: the same nodes over Cyclone DDS directly, without ROS installed.

    interleave-robot-node generator --params launch/split_params.yaml --domain-id 0
    interleave-robot-node guidance --params launch/split_params.yaml --peer gpu-host.local

A GPU server runs the generator node this way; ROS 2 machines on the same domain see its
topics as ordinary ROS topics. Parameters come from the same params YAML as `ros2 launch`
(the node's `ros__parameters` section) and `-p name:=value` overrides. Runs until Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

import yaml

from interleave_robot.errors import InterleaveError
from interleave_robot.ros_nodes.transport_dds import DDSConfig, DDSTransport

NODES = ("guidance", "planner", "generator", "critic", "sim_bridge")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interleave-robot-node", description=__doc__.split("\n")[0])
    parser.add_argument("node", choices=NODES)
    parser.add_argument("--params", help="ROS 2 params YAML (the <node>_node section is read)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="override one parameter (repeatable)")
    parser.add_argument("--domain-id", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", "0")),
                        help="DDS domain (default: $ROS_DOMAIN_ID or 0)")
    parser.add_argument("--loopback", action="store_true", help="discovery and data on 127.0.0.1 only")
    parser.add_argument("--peer", action="append", default=[], help="unicast peer host (repeatable)")
    return parser


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise InterleaveError(f"parameter override {item!r} is not NAME:=VALUE")
        try:
            out[name] = yaml.safe_load(value)  # YAML, as rcl reads `--ros-args -p` values
        except yaml.YAMLError as exc:
            raise InterleaveError(f"parameter override {item!r}: not a YAML value: {exc}") from None
    # Typed by node_setup.config_from_parameters, the same code rclpy nodes use.
    return out


def start_node(node: str, transport, values: dict):
    """Build and start one node's logic on `transport`; the returned object has close()."""
    from interleave_robot.ros_nodes.guidance_logic import GuidanceLogic, GuidanceNodeConfig
    from interleave_robot.ros_nodes.node_setup import AgentsConfig
    from interleave_robot.ros_nodes.ros_params import split_parameters
    from interleave_robot.ros_nodes.split_logic import AgentServer, AgentServerConfig

    values = {k: v for k, v in values.items() if k not in ("autostart", "episodes")}
    if node == "guidance":
        node_config, agents = split_parameters(values, GuidanceNodeConfig, AgentsConfig)
        return _GuidanceNode(GuidanceLogic(transport, agents.build(transport, node_config.state_codec),
                                           node_config).start())
    if node == "sim_bridge":
        from interleave_robot.ros_nodes.sim_bridge import SimBridge, SimBridgeConfig

        (config,) = split_parameters(values, SimBridgeConfig)
        return SimBridge(transport, config)
    (config,) = split_parameters({k: v for k, v in values.items() if k != "role"} | {"role": node},
                                 AgentServerConfig)
    return AgentServer(transport, config).activate()


class _GuidanceNode:
    """The guidance logic and its pipeline, closed together (topics, then models)."""

    def __init__(self, logic):
        self.logic = logic

    def close(self) -> None:
        from interleave_robot.ros_nodes.node_setup import close_pipeline

        logic, self.logic = self.logic, None
        if logic is not None:
            logic.close()
            close_pipeline(logic.pipeline)


def _episodes(values: dict) -> int:
    episodes = values.get("episodes", 1)
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise InterleaveError(f"parameter episodes must be an integer >= 1, got {episodes!r}")
    return episodes


def main(argv: list[str] | None = None) -> int:
    from interleave_robot.ros_nodes.ros_params import yaml_parameters

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    transport = node = None
    try:
        values = yaml_parameters(args.params, f"{args.node}_node") | _overrides(args.param)
        episodes = _episodes(values)
        transport = DDSTransport(DDSConfig(domain_id=args.domain_id, loopback=args.loopback, peers=args.peer))
        node = start_node(args.node, transport, values)
    except InterleaveError as exc:
        print(f"interleave-robot-node {args.node}: error: {exc}", file=sys.stderr)
        if transport is not None:
            transport.close()
        return 2
    print(json.dumps({"node": args.node, "domain_id": args.domain_id, "loopback": args.loopback}), flush=True)
    try:
        if args.node == "sim_bridge":  # runs its episodes (seeds seed, seed+1, ...), one JSON line each
            for k in range(episodes):
                result = node.run_episode(seed=node.config.seed + k)
                print(json.dumps(result.to_dict(), default=str), flush=True)
            return 0
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        node.close()  # models and renderers first, deterministically (issue 11 item 5)
        transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

from interleave_robot.errors import InterleaveError

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
    import yaml

    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise InterleaveError(f"parameter override {item!r} is not NAME:=VALUE")
        out[name] = yaml.safe_load(value)  # the same typing rules as `--ros-args -p`
    return out


def start_node(node: str, transport, values: dict):
    """Build and start one node's logic on `transport`; returns an object with close()-like stop."""
    from interleave_robot.ros_nodes.guidance_logic import GuidanceLogic, GuidanceNodeConfig
    from interleave_robot.ros_nodes.node_setup import AgentsConfig
    from interleave_robot.ros_nodes.ros_params import split_parameters
    from interleave_robot.ros_nodes.split_logic import AgentServer, AgentServerConfig

    values = {k: v for k, v in values.items() if k not in ("autostart", "episodes")}
    if node == "guidance":
        node_config, agents = split_parameters(values, GuidanceNodeConfig, AgentsConfig)
        return GuidanceLogic(transport, agents.build(transport, node_config.state_codec), node_config).start()
    if node == "sim_bridge":
        from interleave_robot.ros_nodes.sim_bridge import SimBridge, SimBridgeConfig

        (config,) = split_parameters(values, SimBridgeConfig)
        return SimBridge(transport, config)
    (config,) = split_parameters({k: v for k, v in values.items() if k != "role"} | {"role": node},
                                 AgentServerConfig)
    return AgentServer(transport, config).activate()


def main(argv: list[str] | None = None) -> int:
    from interleave_robot.ros_nodes.ros_params import yaml_parameters
    from interleave_robot.ros_nodes.transport_dds import DDSConfig, DDSTransport

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        values = yaml_parameters(args.params, f"{args.node}_node") | _overrides(args.param)
        transport = DDSTransport(DDSConfig(domain_id=args.domain_id, loopback=args.loopback, peers=args.peer))
        node = start_node(args.node, transport, values)
    except InterleaveError as exc:
        print(f"interleave-robot-node {args.node}: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"node": args.node, "domain_id": args.domain_id, "loopback": args.loopback}), flush=True)
    try:
        if args.node == "sim_bridge":  # runs its episodes (parameter `episodes`), one JSON line each
            for k in range(int(values.get("episodes", 1))):
                node.config.seed = node.config.seed + (k > 0)
                print(json.dumps(node.run_episode().to_dict(), default=str), flush=True)
            node.close()
            return 0
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

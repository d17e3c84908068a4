"""`ros2 run interleave_robot sim_bridge_node`: the MuJoCo tabletop as a robot on topics.

Runs `episodes` closed-loop episodes (seeds `seed`, `seed+1`, ...) against a guidance node,
logs each result as one JSON line and exits 0; parameters are the fields of SimBridgeConfig
plus `episodes`. Ctrl-C (or SIGTERM) ends the running episode at its next wait and exits 0.
The env's renderer is closed before exit, never left to the interpreter's teardown.

rclpy is imported inside main(): a heavy optional stack.
"""
from __future__ import annotations

import json
import sys
import threading

NODE_NAME = "sim_bridge_node"


def main(args: list[str] | None = None) -> int:
    import rclpy
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node

    from interleave_robot.errors import ConfigError, InterleaveError
    from interleave_robot.ros_nodes.ros_params import declare_config
    from interleave_robot.ros_nodes.sim_bridge import SimBridge, SimBridgeConfig
    from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

    try:
        rclpy.init(args=args if args is not None else sys.argv)
    except RCLError as exc:
        print(f"{NODE_NAME}: error: cannot parse the ROS arguments: {str(exc).split(', at ')[0]}", file=sys.stderr)
        return 2
    # rclpy.init installs SIGINT and SIGTERM handlers that end the spin (no Python handler here).
    node = Node(NODE_NAME)
    bridge = None
    try:
        from rcl_interfaces.msg import ParameterDescriptor

        episodes = node.declare_parameter("episodes", 1, ParameterDescriptor(dynamic_typing=True)).value
        if isinstance(episodes, bool) or not isinstance(episodes, int) or not 1 <= episodes <= 100_000:
            raise ConfigError(f"parameter episodes must be an integer >= 1, got {episodes!r}")
        config = declare_config(node, SimBridgeConfig)
        bridge = SimBridge(RclpyTransport(node), config)
    except InterleaveError as exc:  # a bad parameter: one line, not a traceback
        print(f"{NODE_NAME}: error: {exc}", file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
        return 2

    def run_episodes() -> None:
        try:
            for k in range(episodes):  # seeds seed, seed+1, ... (issue 11 item 6)
                result = bridge.run_episode(seed=config.seed + k)
                if bridge.stopped:
                    break
                print(json.dumps(result.to_dict(), default=str), flush=True)
                node.get_logger().info(f"episode seed {result.seed}: {'SUCCESS' if result.success else 'FAILURE'}"
                                       + ("" if result.success else f" - {result.failure}"))
        finally:
            rclpy.try_shutdown()  # done: end the spin below

    # Episodes run beside the executor so that subscriptions keep being served.
    worker = threading.Thread(target=run_episodes, daemon=True, name="episodes")
    worker.start()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        bridge.stop()
        worker.join(60)
        bridge.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

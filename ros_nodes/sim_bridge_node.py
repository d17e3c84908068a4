"""`ros2 run interleave_robot sim_bridge_node`: the MuJoCo tabletop as a robot on topics.

Runs `episodes` closed-loop episodes (seeds `seed`, `seed+1`, ...) against a guidance node
and logs each result; parameters are the fields of SimBridgeConfig plus `episodes`.
"""
from __future__ import annotations

import json
import sys
import threading


def main(args: list[str] | None = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node

    from interleave_robot.ros_nodes.ros_params import declare_config
    from interleave_robot.ros_nodes.sim_bridge import SimBridge, SimBridgeConfig
    from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

    from interleave_robot.errors import InterleaveError

    rclpy.init(args=args if args is not None else sys.argv)
    node = Node("sim_bridge_node")
    node.declare_parameter("episodes", 1)
    try:
        config = declare_config(node, SimBridgeConfig)
        bridge = SimBridge(RclpyTransport(node), config)
    except InterleaveError as exc:  # a bad parameter: one line, not a traceback
        print(f"sim_bridge_node: error: {exc}", file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
        return 2

    def episodes() -> None:
        for k in range(node.get_parameter("episodes").value):
            bridge.config.seed = config.seed + k
            result = bridge.run_episode()
            node.get_logger().info(json.dumps(result.to_dict()))
        rclpy.try_shutdown()  # done: end the spin below

    # Episodes run beside the executor so that subscriptions keep being served.
    threading.Thread(target=episodes, daemon=True).start()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        bridge.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`ros2 run interleave_robot guidance_node`: the guidance node on rclpy, a lifecycle node.

configure: build the pipeline (loads models, or connects to planner/generator/critic nodes
in split mode); activate: open the topics; deactivate: refuse new tasks; cleanup: free the
models. With the parameter `autostart` (default true) it configures and activates itself,
so `ros2 run` works without a lifecycle manager; set it false under one.

Parameters: the fields of GuidanceNodeConfig (topics, inputs, waits) and AgentsConfig
(mode, backends and their options as JSON text, loop options), see launch/*.yaml.
"""
from __future__ import annotations

import sys

NODE_NAME = "guidance_node"


def _make_node_class():
    from rclpy.lifecycle import Node as LifecycleNode
    from rclpy.lifecycle import TransitionCallbackReturn

    from interleave_robot.errors import InterleaveError
    from interleave_robot.ros_nodes.guidance_logic import GuidanceLogic, GuidanceNodeConfig
    from interleave_robot.ros_nodes.node_setup import AgentsConfig, close_pipeline
    from interleave_robot.ros_nodes.ros_params import declare_config
    from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

    class GuidanceNode(LifecycleNode):
        def __init__(self):
            super().__init__(NODE_NAME)
            self.declare_parameter("autostart", True)
            self.node_config = declare_config(self, GuidanceNodeConfig)
            self.agents_config = declare_config(self, AgentsConfig)
            self.transport = RclpyTransport(self)
            self.pipeline = self.logic = None

        def on_configure(self, state):
            try:
                self.pipeline = self.agents_config.build(self.transport, self.node_config.state_codec)
            except InterleaveError as exc:
                self.get_logger().error(f"configure failed: {exc}")
                return TransitionCallbackReturn.FAILURE
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, state):
            if self.logic is None:
                self.logic = GuidanceLogic(self.transport, self.pipeline, self.node_config).start()
            self.logic.pipeline = self.pipeline  # a new one after cleanup + configure
            self.logic.resume()
            return super().on_activate(state)

        def on_deactivate(self, state):
            if self.logic is not None:
                self.logic.pause()
            return super().on_deactivate(state)

        def on_cleanup(self, state):
            if self.logic is not None:
                self.logic.pause()
                self.logic.wait_idle(30.0)
            if self.pipeline is not None:
                close_pipeline(self.pipeline)
            self.pipeline = None
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state):
            return self.on_cleanup(state)

    return GuidanceNode


def spin_lifecycle(node) -> None:
    """Autostart (configure + activate) when asked, spin until Ctrl-C, shut down cleanly."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    try:
        if node.get_parameter("autostart").value:
            node.trigger_configure()
            node.trigger_activate()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def main(args: list[str] | None = None) -> int:
    import rclpy

    from interleave_robot.errors import InterleaveError

    rclpy.init(args=args if args is not None else sys.argv)
    try:
        node = _make_node_class()()
    except InterleaveError as exc:  # a bad parameter: one line, not a traceback
        print(f"{NODE_NAME}: error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    spin_lifecycle(node)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`ros2 run interleave_robot {planner,generator,critic}_node`: one agent per lifecycle node.

The split mode's servers: configure loads the backend (registry name `backend`, options as
JSON text `options`), activate opens `<prefix>/<role>/request|response`, deactivate stops
serving, cleanup frees the model. Run the generator node on the GPU host; the guidance node
(mode "split") finds it through DDS discovery (add the host as a peer when multicast is off).
"""
from __future__ import annotations

import sys


def _make_node_class(role: str):
    from rclpy.lifecycle import Node as LifecycleNode
    from rclpy.lifecycle import TransitionCallbackReturn

    from interleave_robot.errors import InterleaveError
    from interleave_robot.ros_nodes.node_setup import config_from_parameters
    from interleave_robot.ros_nodes.ros_params import declare_values
    from interleave_robot.ros_nodes.split_logic import AgentServer, AgentServerConfig
    from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

    class AgentNode(LifecycleNode):
        def __init__(self):
            super().__init__(f"{role}_node")
            self.declare_parameter("autostart", True)
            self.declare_parameter("role", role)  # fixed by the entry point; shown for clarity
            self.values = declare_values(self, AgentServerConfig) | {"role": role}
            self.transport = RclpyTransport(self)
            self.server = None
            self.active = False

        def on_configure(self, state):
            try:
                if self.server is None:
                    config = config_from_parameters(AgentServerConfig, self.values)
                    self.server = AgentServer(self.transport, config)
                self.server.configure()
            except InterleaveError as exc:
                self.get_logger().error(f"configure failed: {exc}")
                return TransitionCallbackReturn.FAILURE
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, state):
            if not self.active:
                self.server.activate()
                self.active = True
            return super().on_activate(state)

        def on_deactivate(self, state):
            if self.server is not None:
                self.server.deactivate()
            self.active = False
            return super().on_deactivate(state)

        def on_cleanup(self, state):
            if self.server is not None:
                self.server.cleanup()
            self.active = False
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state):
            return self.on_cleanup(state)

    return AgentNode


def _main(role: str, args: list[str] | None) -> int:
    import rclpy

    from interleave_robot.ros_nodes.guidance_node import spin_lifecycle

    rclpy.init(args=args if args is not None else sys.argv)
    spin_lifecycle(_make_node_class(role)())
    return 0


def planner_main(args: list[str] | None = None) -> int:
    return _main("planner", args)


def generator_main(args: list[str] | None = None) -> int:
    return _main("generator", args)


def critic_main(args: list[str] | None = None) -> int:
    return _main("critic", args)

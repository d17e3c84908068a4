"""`ros2 run interleave_robot {planner,generator,critic}_node`: one agent per lifecycle node.

The split mode's servers: configure reads the parameters and loads the backend (registry
name `backend`, options as JSON text `options`), activate opens
`<prefix>/<role>/request|response`, deactivate closes them (requests are neither taken nor
queued while inactive, so re-activating answers each request once), cleanup frees the model.
Run the generator node on the GPU host; the guidance node (mode "split") finds it through
DDS discovery (add the host as a peer when multicast is off).

rclpy is imported inside the functions: a heavy optional stack.
"""
from __future__ import annotations

import sys


def _make_node_class(role: str):
    from rclpy.lifecycle import Node as LifecycleNode
    from rclpy.lifecycle import TransitionCallbackReturn

    from interleave_robot.errors import ConfigError
    from interleave_robot.ros_nodes.lifecycle import LifecycleBase, guarded, safe_change_state_service
    from interleave_robot.ros_nodes.node_setup import config_from_parameters
    from interleave_robot.ros_nodes.ros_params import current_values, declare_values, pick, reject_bad_parameters
    from interleave_robot.ros_nodes.split_logic import AgentServer, AgentServerConfig
    from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

    def config(values: dict) -> AgentServerConfig:
        if values.get("role", role) != role:
            raise ConfigError(f"parameter role is fixed to {role!r} by the executable, got {values['role']!r}")
        return config_from_parameters(AgentServerConfig, pick(values, AgentServerConfig) | {"role": role})

    class AgentNode(LifecycleBase, LifecycleNode):
        def __init__(self):
            super().__init__(f"{role}_node")
            self.declare_parameter("autostart", True)
            self.declare_parameter("role", role)  # fixed by the entry point; shown for clarity
            config(declare_values(self, AgentServerConfig) | {"role": role})  # bad parameters fail at start
            reject_bad_parameters(self, config)
            safe_change_state_service(self)
            self.transport = RclpyTransport(self)
            self.server = None

        @guarded("configure")
        def on_configure(self, state):
            server = AgentServer(self.transport, config(current_values(self, AgentServerConfig) | {"role": role}))
            server.configure()
            self.server = server
            return TransitionCallbackReturn.SUCCESS

        @guarded("activate")
        def on_activate(self, state):
            self.server.activate()
            return super().on_activate(state)

        @guarded("deactivate")
        def on_deactivate(self, state):
            self.server.deactivate()
            return super().on_deactivate(state)

        @guarded("cleanup")
        def on_cleanup(self, state):
            self.close()
            return TransitionCallbackReturn.SUCCESS

        @guarded("shutdown")
        def on_shutdown(self, state):
            self.close()
            return TransitionCallbackReturn.SUCCESS

        def close(self) -> None:
            """Stop serving and free the model. Idempotent."""
            server, self.server = self.server, None
            if server is not None:
                server.close()

    return AgentNode


def _main(role: str, args: list[str] | None) -> int:
    from interleave_robot.ros_nodes.lifecycle import run_lifecycle_node

    return run_lifecycle_node(f"{role}_node", lambda: _make_node_class(role)(), args)


def planner_main(args: list[str] | None = None) -> int:
    return _main("planner", args)


def generator_main(args: list[str] | None = None) -> int:
    return _main("generator", args)


def critic_main(args: list[str] | None = None) -> int:
    return _main("critic", args)

"""`ros2 run interleave_robot guidance_node`: the guidance node on rclpy, a lifecycle node.

configure: read the parameters (again, on every configure), build the pipeline (loads models,
or connects to planner/generator/critic nodes in split mode) and open the topics; activate:
accept tasks; deactivate: refuse new tasks ("inactive" status); cleanup: close the topics and
free the models. With the parameter `autostart` (default true) it configures and activates
itself, so `ros2 run` works without a lifecycle manager; set it false under one. A failed
autostart is one line on stderr and exit code 2.

Parameters: the fields of GuidanceNodeConfig (topics, inputs, waits, loop) and AgentsConfig
(mode, backends and their options as JSON text, loop options), see launch/*.yaml. A
`set_parameters` with a value that does not build a valid config is refused with the reason;
accepted values take effect at the next configure (cleanup + configure).

rclpy is imported inside the functions: a heavy optional stack.
"""
from __future__ import annotations

import sys

NODE_NAME = "guidance_node"


def _make_node_class():
    from rclpy.lifecycle import Node as LifecycleNode
    from rclpy.lifecycle import TransitionCallbackReturn

    from interleave_robot.ros_nodes.guidance_logic import GuidanceLogic, GuidanceNodeConfig
    from interleave_robot.ros_nodes.lifecycle import LifecycleBase, guarded, safe_change_state_service
    from interleave_robot.ros_nodes.node_setup import AgentsConfig, close_pipeline, config_from_parameters
    from interleave_robot.ros_nodes.ros_params import current_values, declare_values, pick, reject_bad_parameters
    from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

    def configs(values: dict):
        return (config_from_parameters(GuidanceNodeConfig, pick(values, GuidanceNodeConfig)),
                config_from_parameters(AgentsConfig, pick(values, AgentsConfig)))

    class GuidanceNode(LifecycleBase, LifecycleNode):
        def __init__(self):
            super().__init__(NODE_NAME)
            self.declare_parameter("autostart", True)
            values = declare_values(self, GuidanceNodeConfig) | declare_values(self, AgentsConfig)
            configs(values)  # bad parameters: a one-line error at start, not at configure
            reject_bad_parameters(self, configs)
            safe_change_state_service(self)
            self.transport = RclpyTransport(self)
            self.pipeline = self.logic = None

        @guarded("configure")
        def on_configure(self, state):
            node_config, agents = configs(current_values(self, GuidanceNodeConfig)
                                          | current_values(self, AgentsConfig))
            pipeline = agents.build(self.transport, node_config.state_codec)
            logic = GuidanceLogic(self.transport, pipeline, node_config)
            logic.pause()  # inactive until activate
            try:
                logic.start()
            except Exception:
                close_pipeline(pipeline)
                raise
            self.pipeline, self.logic = pipeline, logic
            return TransitionCallbackReturn.SUCCESS

        @guarded("activate")
        def on_activate(self, state):
            self.logic.resume()
            return super().on_activate(state)

        @guarded("deactivate")
        def on_deactivate(self, state):
            self.logic.pause()
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
            """Close the topics (a running task finishes first) and free the models. Idempotent."""
            logic, pipeline, self.logic, self.pipeline = self.logic, self.pipeline, None, None
            if logic is not None:
                logic.close()
            if pipeline is not None:
                close_pipeline(pipeline)

    return GuidanceNode


def main(args: list[str] | None = None) -> int:
    from interleave_robot.ros_nodes.lifecycle import run_lifecycle_node

    return run_lifecycle_node(NODE_NAME, lambda: _make_node_class()(), args)


if __name__ == "__main__":
    sys.exit(main())

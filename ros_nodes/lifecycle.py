"""What every lifecycle node of this package shares: guarded transitions, autostart, clean exit.

rclpy's lifecycle machinery turns an exception raised in a transition callback into an ERROR
return without logging anything, and raises RCLError (a traceback) for a transition that is
not valid in the current state. Here:
- `guarded(label)` wraps a transition callback: an exception becomes FAILURE, with its reason
  logged (console and /rosout) and kept in `node.last_error`;
- `run_lifecycle_node(name, make_node, args)` is the entry point: rclpy.init, the node, its
  autostart (configure + activate, each checked: a failure is one line on stderr and exit 2),
  spin until Ctrl-C or SIGTERM, then `node.close()` (models and renderers freed
  deterministically, never left to the interpreter's exit) and exit 0.

rclpy is imported inside the functions (a heavy optional stack: `ros_nodes` stays importable
without ROS).
"""
from __future__ import annotations

import functools
import sys
import traceback

from interleave_robot.errors import InterleaveError


class StartupError(InterleaveError):
    """A node could not be brought up (bad parameters, a failed autostart transition)."""


def guarded(label: str):
    """Decorate a lifecycle transition callback (see the module docstring)."""

    def wrap(method):
        @functools.wraps(method)
        def run(node, state):
            from rclpy.lifecycle import TransitionCallbackReturn

            try:
                result = method(node, state)
            except InterleaveError as exc:
                reason = f"{label} failed: {exc}"
            except Exception as exc:  # noqa: BLE001 - rclpy would drop it silently
                reason = f"{label} failed: {type(exc).__name__}: {exc}"
                node.get_logger().debug(traceback.format_exc())
            else:
                node.last_error = None
                return result
            node.last_error = reason
            if not node.quiet_failures:
                node.get_logger().error(reason)
            return TransitionCallbackReturn.FAILURE

        return run

    return wrap


class LifecycleBase:
    """Mixin state for guarded(): the last failure, and whether to log it (autostart prints it)."""

    last_error: str | None = None
    quiet_failures: bool = False


def safe_change_state_service(node) -> None:
    """Answer `success: false` to a ChangeState request that is not valid in the current state
    (rclpy raises RCLError in the service callback, which ends the node's spin)."""
    from rclpy._rclpy_pybind11 import RCLError

    service = node._service_change_state
    original = service.callback

    def callback(request, response):
        try:
            return original(request, response)
        except RCLError as exc:
            node.get_logger().warning(f"transition {request.transition.id} refused: {exc}")
            response.success = False
            return response

    service.callback = callback


def _autostart(node) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn

    node.quiet_failures = True  # the failure is printed once, below, not also logged
    try:
        for label, trigger in (("configure", node.trigger_configure), ("activate", node.trigger_activate)):
            if trigger() != TransitionCallbackReturn.SUCCESS:
                raise StartupError(node.last_error or f"{label} failed")
    finally:
        node.quiet_failures = False


def run_lifecycle_node(name: str, make_node, args: list[str] | None) -> int:
    """Entry point of a lifecycle node; `make_node()` builds it (InterleaveError: bad parameters)."""
    import rclpy
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.executors import ExternalShutdownException

    try:
        rclpy.init(args=args if args is not None else sys.argv)
    except RCLError as exc:  # e.g. `-p name:={...}`: rcl cannot parse a mapping value
        print(f"{name}: error: cannot parse the ROS arguments: {str(exc).split(', at ')[0]} (give a mapping or "
              f"list option as quoted JSON text: -p \"name:='{{...}}'\")", file=sys.stderr)
        return 2
    node = None
    # rclpy.init installs its SIGINT and SIGTERM handlers (they end the spin): a Python handler
    # here would replace them and never run while spin waits in C++.
    try:
        node = make_node()
        if node.get_parameter("autostart").value:
            _autostart(node)
        rclpy.spin(node)
    except InterleaveError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C or SIGTERM shut the context down while the node was still starting (a
        # transition then fails on the dead context): that is a requested, clean exit.
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0

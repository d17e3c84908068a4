"""Drive real rclpy nodes from pytest (launch_testing is not among the pip wheels).

- `NodeProcess`: a console script (`guidance_node`, `sim_bridge_node`, ...) as a subprocess,
  with its output in a file; `stop()` sends SIGINT and returns the exit code.
- `RclpyProbe`: an rclpy node in the test process (its own Context and executor thread) that
  publishes, subscribes through RclpyTransport, and calls lifecycle and parameter services.

Both inherit the test network namespace (conftest.py) and the ROS domain given to them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
LOOPBACK_CYCLONE = ('<CycloneDDS><Domain id="any"><General><Interfaces><NetworkInterface name="lo"/></Interfaces>'
                    '<AllowMulticast>false</AllowMulticast></General><Discovery><Peers><Peer address="127.0.0.1"/>'
                    '</Peers><ParticipantIndex>auto</ParticipantIndex></Discovery></Domain></CycloneDDS>')


def node_env(domain_id: int) -> dict:
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", CYCLONEDDS_URI=LOOPBACK_CYCLONE,
               PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0", OMP_NUM_THREADS="1", MUJOCO_GL="egl",
               PYTHONFAULTHANDLER="1")  # a hung node dumps its threads' stacks on SIGABRT (see wait())
    return env


def ros_args(params: dict | None = None, params_file: str | Path | None = None) -> list[str]:
    """--ros-args with `-p name:=value` for each item (strings quoted as YAML strings)."""
    args = ["--ros-args"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for name, value in (params or {}).items():
        if isinstance(value, str):
            value = "'" + value.replace("'", "''") + "'"  # a YAML single-quoted string (JSON text inside)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        args += ["-p", f"{name}:={value}"]
    return args


class NodeProcess:
    """One node process; output (stdout and stderr) in `log_path`."""

    def __init__(self, script: str, args: list[str], domain_id: int, log_dir: Path, env: dict | None = None,
                 command: list[str] | None = None):
        self.script = script
        self.log_path = Path(log_dir) / f"{script}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(command or [str(BIN / script), *args], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=node_env(domain_id) | (env or {}),
                                     stdin=subprocess.DEVNULL)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in (out := self.output()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.script}: {text!r} not in its output (rc={self.proc.poll()}):\n{out[-3000:]}")
            time.sleep(0.05)
        return out

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack into the log
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            raise AssertionError(f"{self.script} did not exit within {timeout} s:\n{self.output()[-6000:]}") from None

    def stop(self, timeout: float = 45.0) -> int:
        """SIGINT (Ctrl-C), then the exit code. (A node normally exits in 1-3 s; once in 11 runs on a loaded
        2-core machine one took over 20 s, so the bound is generous: a real hang still fails, with stacks.)"""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class RclpyProbe:
    """An rclpy node in the test process, spun on its own thread."""

    def __init__(self, domain_id: int, name: str = "probe"):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.transport = RclpyTransport(self.node)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def call(self, srv_type, service: str, request, timeout: float = 20.0):
        client = self.node.create_client(srv_type, service)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f"service {service} not available within {timeout} s")
            future = client.call_async(request)
            deadline = time.monotonic() + timeout
            while not future.done():
                if time.monotonic() > deadline:
                    raise AssertionError(f"service {service} did not answer within {timeout} s")
                time.sleep(0.01)
            return future.result()
        finally:
            self.node.destroy_client(client)

    def transition(self, node: str, label: str) -> bool:
        """Trigger a lifecycle transition by label (configure, activate, ...) on `node`."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        ids = {"configure": Transition.TRANSITION_CONFIGURE, "activate": Transition.TRANSITION_ACTIVATE,
               "deactivate": Transition.TRANSITION_DEACTIVATE, "cleanup": Transition.TRANSITION_CLEANUP,
               "shutdown": Transition.TRANSITION_UNCONFIGURED_SHUTDOWN}
        request = ChangeState.Request(transition=Transition(id=ids[label]))
        return self.call(ChangeState, f"/{node}/change_state", request).success

    def state(self, node: str) -> str:
        from lifecycle_msgs.srv import GetState

        return self.call(GetState, f"/{node}/get_state", GetState.Request()).current_state.label

    def set_parameters(self, node: str, values: dict) -> list:
        """-> one SetParametersResult per value (successful, reason)."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
        return list(self.call(SetParameters, f"/{node}/set_parameters", request).results)

    def wait_matched(self, endpoint, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while endpoint.matched_count() == 0:
            if time.monotonic() > deadline:
                raise AssertionError("no peer matched within the timeout")
            time.sleep(0.02)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(5)

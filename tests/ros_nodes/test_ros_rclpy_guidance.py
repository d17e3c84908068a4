"""The rclpy guidance node for real: `guidance_node` as a process, driven from an rclpy probe.

End to end to `finished`, the lifecycle through its services, parameters (typing, refusals,
re-read on configure), bad parameters as one line, /rosout, SIGINT. Issue 11 items 1-4, 9, 10.
"""
import json
import time

import numpy as np
import pytest

from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.conversion import image_to_numpy, numpy_to_image
from interleave_robot.ros_nodes.messages import Image, String

pytestmark = pytest.mark.dds

STEPS = ["pick up the red block", "put it on the blue block"]
PARAMS = {"planner_options": json.dumps({"steps": STEPS}), "loop": "open"}


class Client:
    """The user's side of a guidance node: camera and task out, status/plan/subgoals in. The
    camera is a camera: it publishes its frame every 0.1 s (best effort; a frame sent before
    the node's reader matched is simply lost, as on a robot)."""

    def __init__(self, probe, inbox):
        t = probe.transport
        self.probe = probe
        self.status, self.texts, self.images, self.plan = inbox(), inbox(), inbox(), inbox()
        self.status_sub = t.subscribe("/interleave/status", String, qos.RELIABLE, self.status)
        t.subscribe("/interleave/subgoal/text", String, qos.RELIABLE, self.texts)
        t.subscribe("/interleave/subgoal/image", Image, qos.RELIABLE, self.images)
        t.subscribe("/interleave/plan", String, qos.LATCHED, self.plan)
        self.camera = t.publisher("/camera/image_raw", Image, qos.SENSOR_DATA)
        self.task = t.publisher("/interleave/task", String, qos.RELIABLE)
        self.frame = None
        self.timer = probe.node.create_timer(0.1, lambda: self.frame and self.camera.publish(self.frame))

    def run(self, text, image, events=("finished", "error"), n=1, timeout=30.0):
        # Both directions discovered (a sample sent before the peer's reader knows our writer is
        # lost on a volatile topic): the task writer matched, and the node's status writer too.
        self.probe.wait_matched(self.camera)
        self.probe.wait_matched(self.task)
        self.probe.wait_matched(self.status_sub)
        self.frame = numpy_to_image(image)
        time.sleep(0.5)  # a few frames before the task
        self.task.publish(String(text))
        return self.wait(events, n, timeout)

    def wait(self, events, n=1, timeout=30.0):
        found = self.status.wait(n, timeout, where=lambda m: json.loads(m.data)["event"] in events)
        return [json.loads(m.data) for m in found]


def _one_line_error(proc, words, rcl_logs=False):
    assert proc.wait(30) == 2
    out = proc.output()
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    if rcl_logs:  # rcl logs its own parse error before rclpy raises; ours is the one line after it
        lines = [line for line in lines if not line.startswith("[ERROR] [") or "[rcl]" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"{proc.script}: error:") and words in lines[0], out


def test_task_runs_to_finished_and_sigint_exits_cleanly(launch, probe, inbox):
    node = launch("guidance_node", PARAMS)
    client = Client(probe, inbox)
    image = np.random.default_rng(0).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    finished = client.run("stack the blocks", image)[0]
    assert finished["event"] == "finished" and finished["finished"] is True, finished
    assert [m.data for m in client.texts.wait(2)] == STEPS  # all of them, then `finished` (issue 11 item 9)
    assert image_to_numpy(client.images.wait(2)[0]).shape == image.shape
    assert [s["instruction"] for s in json.loads(client.plan.wait(1)[0].data)["steps"]] == STEPS
    assert node.stop() == 0
    assert "Traceback" not in node.output(), node.output()


@pytest.mark.parametrize("params, words", [
    ({}, "StaticPlannerConfig needs exactly one of"),  # a bare `ros2 run` (item 1)
    ({"planner": "nope"}, "unknown planner backend 'nope'"),
    ({"frame_wait_s": "soon"}, "frame_wait_s: expected float"),
    ({"planner_options": "{not json"}, "planner_options: not valid JSON"),
    ({"loop": "sideways"}, "loop must be one of"),
], ids=["bare", "backend", "float", "json", "loop"])
def test_bad_parameters_are_one_line_and_exit_2(launch, params, words):
    _one_line_error(launch("guidance_node", params), words)


def test_a_mapping_given_with_dash_p_is_one_line(launch):
    proc = launch("guidance_node", extra=["--ros-args", "-p", 'planner_options:={"steps": ["a"]}'])
    _one_line_error(proc, "cannot parse the ROS arguments", rcl_logs=True)


def test_parameter_typing_int_for_float_and_yaml_lists(launch, probe, inbox, tmp_path):
    """`frame_wait_s: 5` (an int), a YAML list for a list option: accepted (item 4)."""
    params = tmp_path / "p.yaml"
    params.write_text("guidance_node:\n  ros__parameters:\n    frame_wait_s: 5\n    remote_agents: [planner]\n"
                      f"    planner_options: '{PARAMS['planner_options']}'\n    loop: open\n")
    node = launch("guidance_node", params_file=params)
    finished = Client(probe, inbox).run("stack", np.zeros((8, 8, 3), np.uint8))[0]
    assert finished["event"] == "finished", finished
    assert "Traceback" not in node.output()


def test_subgoal_topic_without_the_interfaces_package_fails_configure_with_the_reason(launch):
    """Item 2: the missing message type is a failed transition with its reason, not a silent
    unconfigured node with publishers left behind."""
    proc = launch("guidance_node", PARAMS | {"subgoal_topic": "/interleave/subgoal"})
    _one_line_error(proc, "interleave_robot_interfaces")


def test_lifecycle_through_services(launch, probe, inbox):
    node = launch("guidance_node", PARAMS | {"autostart": False})
    name = "guidance_node"
    assert probe.state(name) == "unconfigured"
    assert probe.transition(name, "activate") is False  # not valid from unconfigured: refused, node lives
    assert probe.transition(name, "configure") and probe.state(name) == "inactive"
    client = Client(probe, inbox)
    image = np.zeros((16, 16, 3), np.uint8)
    refused = client.run("stack", image, events=("error",))[0]
    assert "inactive" in refused["error"]
    assert probe.transition(name, "activate") and probe.state(name) == "active"
    assert client.run("stack", image, events=("finished",))[0]["finished"] is True
    assert probe.transition(name, "deactivate") and probe.state(name) == "inactive"
    assert probe.transition(name, "activate")
    # Item 3: a bad value is refused with the reason; a good one takes effect at the next configure.
    bad = probe.set_parameters(name, {"planner": "nope", "frame_wait_s": "soon"})
    assert [r.successful for r in bad] == [False, False] and "unknown planner backend" in bad[0].reason
    assert probe.set_parameters(name, {"frame_wait_s": 2})[0].successful  # an int for a float (item 4)
    good = probe.set_parameters(name, {"planner_options": json.dumps({"steps": ["just one step"]})})
    assert good[0].successful
    assert probe.transition(name, "deactivate") and probe.transition(name, "cleanup")
    assert probe.state(name) == "unconfigured"
    assert probe.transition(name, "configure") and probe.transition(name, "activate")
    client.texts.items.clear()
    assert client.run("stack", image, events=("finished",), n=2)[1]["num_steps"] == 1
    assert [m.data for m in client.texts.wait(1)] == ["just one step"]
    # A failed configure: the reason on the node's log, the node stays unconfigured and usable.
    assert probe.transition(name, "deactivate") and probe.transition(name, "cleanup")
    assert probe.set_parameters(name, {"planner_options": "{}"})[0].successful  # valid JSON, no steps
    assert probe.transition(name, "configure") is False
    assert probe.state(name) == "unconfigured"
    assert "configure failed: StaticPlannerConfig needs exactly one of" in node.output()
    assert probe.set_parameters(name, {"planner_options": PARAMS["planner_options"]})[0].successful
    assert probe.transition(name, "configure") and probe.state(name) == "inactive"
    assert node.stop() == 0
    assert "Traceback" not in node.output(), node.output()


def test_status_errors_reach_rosout(launch, probe, inbox):
    """Item 10: an error status is also logged through the node's logger, hence on /rosout."""
    from rcl_interfaces.msg import Log

    logs = inbox()
    probe.node.create_subscription(Log, "/rosout", logs, qos_profile=10)
    launch("guidance_node", PARAMS)
    client = Client(probe, inbox)
    probe.wait_matched(client.task)
    deadline = time.monotonic() + 10
    while probe.node.count_publishers("/rosout") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the probe's own /rosout publisher, and the node's
    client.task.publish(String("   "))
    client.wait(("error",))
    found = logs.wait(1, 10, where=lambda m: m.name == "guidance_node" and "task rejected" in m.msg)
    assert found[0].level == Log.ERROR


@pytest.mark.parametrize("script, params", [("guidance_node", PARAMS), ("generator_node", {"backend": "echo"})])
def test_sigterm_ends_a_node_cleanly(launch, probe, script, params):
    """SIGTERM (what launch and process managers send) ends the spin like Ctrl-C: exit 0."""
    import signal

    node = launch(script, params)
    deadline = time.monotonic() + 60  # generous: the 2-core CI machine may be busy
    while probe.state(script) != "active" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert probe.state(script) == "active", node.output()[-3000:]
    node.proc.send_signal(signal.SIGTERM)
    assert node.wait(45) == 0
    assert "Traceback" not in node.output(), node.output()

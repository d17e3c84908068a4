"""The guidance node logic end to end over real DDS (loopback) with the scripted backends."""
import json
import time

import numpy as np
import pytest

from interleave_robot.backends.scripted import (AlwaysCritic, AlwaysCriticConfig, EchoGenerator, EchoGeneratorConfig,
                                                StaticPlanner, StaticPlannerConfig)
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.conversion import image_to_numpy, make_header, numpy_to_compressed, numpy_to_image
from interleave_robot.ros_nodes.guidance_logic import GuidanceLogic, GuidanceNodeConfig
from interleave_robot.ros_nodes.messages import CompressedImage, Image, String, Subgoal
from interleave_robot.ros_nodes.transport_dds import DDSTransport

STEPS = ["pick up the red block", "put it on the blue block", "put the green block on top"]

pytestmark = pytest.mark.dds  # DDS on loopback, inside the test network namespace


def frame(value: int, h: int = 24, w: int = 32) -> np.ndarray:
    img = np.random.default_rng(value).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    img[-1, -1] = value
    return img


class Rig:
    """A guidance node on one participant, the 'robot' side on another."""

    def __init__(self, dds_config, ns, inbox, wait_matched, reject_first=0, sleep_s=0.0, **node_options):
        if "subgoal_topic" in node_options:
            node_options["subgoal_topic"] = ns + "/interleave/subgoal"
        node_options.setdefault("loop", "open")  # no robot on the other side, except in the closed-loop tests
        self.config = GuidanceNodeConfig(
            camera_topic=ns + "/camera/image_raw", task_topic=ns + "/interleave/task",
            plan_topic=ns + "/interleave/plan", subgoal_image_topic=ns + "/interleave/subgoal/image",
            subgoal_text_topic=ns + "/interleave/subgoal/text", status_topic=ns + "/interleave/status",
            step_done_topic=ns + "/interleave/step_done", **node_options)
        self.generator = EchoGenerator(EchoGeneratorConfig(sleep_s=sleep_s))
        pipeline = GuidancePipeline(StaticPlanner(StaticPlannerConfig(steps=STEPS)), self.generator,
                                    AlwaysCritic(AlwaysCriticConfig(reject_first=reject_first)),
                                    PipelineConfig(max_attempts_per_step=3))
        self.node_side = DDSTransport(dds_config)
        self.node = GuidanceLogic(self.node_side, pipeline, self.config).start()
        self.robot = DDSTransport(dds_config)
        self.plan, self.images, self.texts, self.status = inbox(), inbox(), inbox(), inbox()
        c = self.config
        self.robot.subscribe(c.plan_topic, String, qos.LATCHED, self.plan)
        self.robot.subscribe(c.subgoal_image_topic, Image, qos.RELIABLE, self.images)
        self.robot.subscribe(c.subgoal_text_topic, String, qos.RELIABLE, self.texts)
        self.robot.subscribe(c.status_topic, String, qos.RELIABLE, self.status)
        camera_type = CompressedImage if c.compressed_camera else Image
        self.camera = self.robot.publisher(c.camera_topic, camera_type, qos.SENSOR_DATA)
        self.task = self.robot.publisher(c.task_topic, String, qos.RELIABLE)
        self.step_done = self.robot.publisher(c.step_done_topic, String, qos.RELIABLE)
        for endpoint in (self.camera, self.task) + ((self.step_done,) if c.loop == "closed" else ()):
            wait_matched(endpoint)
        wait_matched(self.node._status)

    def events(self, kind):
        return [s for s in self.status.statuses() if s["event"] == kind]

    def wait_event(self, kind, n=1, timeout=10.0):
        return self.status.wait(n, timeout, where=lambda m: json.loads(m.data)["event"] == kind)

    def close(self):
        self.node.close(10)
        self.robot.close()
        self.node_side.close()


@pytest.fixture
def rig(dds_config, ns, inbox, wait_matched):
    rigs = []

    def make(**options):
        rigs.append(Rig(dds_config, ns, inbox, wait_matched, **options))
        return rigs[-1]

    yield make
    for r in rigs:
        r.close()


def test_camera_and_task_in_plan_and_subgoals_out(rig, inbox):
    r = rig(reject_first=1, subgoal_topic=None)
    combined = inbox()
    r.robot.subscribe(r.config.subgoal_topic, Subgoal, qos.RELIABLE, combined)
    image = frame(1)
    r.camera.publish(numpy_to_image(image, make_header(1.5, "cam")))
    time.sleep(0.2)
    r.task.publish(String("stack the blocks"))
    r.wait_event("finished")
    plan = json.loads(r.plan.wait(1)[0].data)
    assert [s["instruction"] for s in plan["steps"]] == STEPS
    assert [m.data for m in r.texts.wait(3)] == STEPS
    subgoals = [image_to_numpy(m) for m in r.images.wait(3)]
    band = image.shape[0] // 8
    for sub in subgoals:  # the echo generator keeps the source below a prompt/seed colour band
        np.testing.assert_array_equal(sub[band:], image[band:])
    assert len({sub[:band].tobytes() for sub in subgoals}) == 3
    # The combined Subgoal messages carry the same image and text, the step and the accepted prompt.
    for k, msg in enumerate(combined.wait(3)):
        assert (msg.step_index, msg.num_steps, msg.instruction, msg.flagged) == (k + 1, 3, STEPS[k], False)
        assert msg.prompt.endswith(" [refined]")  # reject_first=1: the refined prompt was accepted
        np.testing.assert_array_equal(image_to_numpy(msg.image), subgoals[k])
    attempts = r.events("attempt")
    assert [a["verdict"] for a in attempts] == [False, True] * 3  # reject_first=1: one refinement per step
    steps = r.events("step")
    assert [(s["step"], s["num_steps"], s["flagged"]) for s in steps] == [(1, 3, False), (2, 3, False), (3, 3, False)]
    finished = r.events("finished")[0]
    assert finished["generator_calls"] == 6 and finished["critic_rejections"] == 3
    # A late subscriber still receives the plan (reliable, transient local).
    late = []
    r.robot.subscribe(r.config.plan_topic, String, qos.LATCHED, late.append)
    deadline = time.monotonic() + 5
    while not late and time.monotonic() < deadline:
        time.sleep(0.01)
    assert json.loads(late[0].data)["steps"][0]["instruction"] == STEPS[0]


def test_task_runs_on_the_latest_frame_only(rig):
    r = rig()
    for value in range(10, 30):
        r.camera.publish(numpy_to_image(frame(value), make_header(value)))
    time.sleep(0.3)
    r.task.publish(String("stack"))
    r.wait_event("finished")
    first = image_to_numpy(r.images.wait(3)[0])
    assert first[-1, -1, 0] == 29  # the newest frame, not a queued old one
    assert r.generator.calls == 3  # one run, not one per frame


def test_compressed_camera_and_json_task(rig):
    r = rig(compressed_camera=True)
    image = frame(5)
    r.camera.publish(numpy_to_compressed(image, make_header(2.0)))
    time.sleep(0.2)
    r.task.publish(String(json.dumps({"text": "stack", "family": "stack", "id": "job-7"})))
    finished = r.wait_event("finished")
    assert json.loads(finished[0].data)["task_id"] == "job-7"
    np.testing.assert_array_equal(image_to_numpy(r.images.wait(3)[0])[3:], image[3:])


@pytest.mark.parametrize("bad, words", [
    (dict(encoding="32FC1"), "unknown image encoding"),
    (dict(height=0, width=0, step=0, data=b""), "empty"),
    (dict(height=5000, width=5000, step=15000, data=b"\0" * 30), "step\\*height|larger"),
    (dict(step=1000), "step\\*height"),
    (dict(data=b"\0" * 10), "step\\*height"),
])
def test_bad_frames_are_reported_and_the_node_keeps_running(rig, bad, words):
    r = rig()
    msg = numpy_to_image(frame(3))
    for key, value in bad.items():
        setattr(msg, key, value)
    r.camera.publish(msg)
    error = json.loads(r.wait_event("error")[0].data)["error"]
    assert "camera frame rejected" in error
    import re
    assert re.search(words, error)
    good = frame(4)
    r.camera.publish(numpy_to_image(good, make_header(4)))
    time.sleep(0.2)
    r.task.publish(String("stack"))
    r.wait_event("finished")
    assert image_to_numpy(r.images.wait(3)[0])[-1, -1, 0] == 4


def test_bad_tasks_are_reported_and_the_node_keeps_running(rig):
    r = rig()
    for text in ("", "   ", "{not json", json.dumps({"family": "stack"}),
                 json.dumps({"text": "stack", "spec": 3}), "x" * 30000, json.dumps({"text": "stack", "seed": -1})):
        r.task.publish(String(text))
    errors = [json.loads(m.data)["error"] for m in r.wait_event("error", 7)]
    assert any("task is empty" in e for e in errors)
    assert any("not valid JSON" in e for e in errors)
    assert any("non-empty \"text\"" in e for e in errors)
    assert any("\"spec\" must be an object" in e for e in errors)
    assert any("over the" in e for e in errors)
    assert any("\"seed\" must be an integer" in e for e in errors)
    r.camera.publish(numpy_to_image(frame(8)))
    time.sleep(0.2)
    r.task.publish(String("stack"))
    r.wait_event("finished")


def test_no_camera_frame_times_out_with_an_error(rig):
    r = rig(frame_wait_s=0.3)
    start = time.monotonic()
    r.task.publish(String("stack"))
    error = json.loads(r.wait_event("error")[0].data)["error"]
    assert "no camera frame within 0.3 s" in error and time.monotonic() - start < 5
    assert r.generator.calls == 0


def test_a_task_while_busy_is_refused(rig):
    r = rig(sleep_s=0.3)
    r.camera.publish(numpy_to_image(frame(9)))
    time.sleep(0.2)
    r.task.publish(String("first"))
    r.wait_event("received")
    r.task.publish(String("second"))
    error = json.loads(r.wait_event("error")[0].data)["error"]
    assert error.startswith("busy")
    r.wait_event("finished")
    assert len(r.events("finished")) == 1


def test_an_inactive_node_refuses_tasks_and_resumes(rig):
    """The lifecycle deactivate/activate steps of the rclpy node map to pause/resume."""
    r = rig()
    r.camera.publish(numpy_to_image(frame(6)))
    time.sleep(0.2)
    r.node.pause()
    r.task.publish(String("stack"))
    assert json.loads(r.wait_event("error")[0].data)["error"].startswith("inactive")
    r.node.resume()
    r.task.publish(String("stack"))
    r.wait_event("finished")


def test_closed_loop_waits_for_the_robot_and_generates_from_its_next_frame(rig):
    """loop closed: step k+1 waits for step k's step-done and edits the robot's newer frame."""
    from interleave_robot.ros_nodes.context import StepDone

    r = rig(loop="closed")
    first, after = frame(1), [frame(10), frame(11)]
    r.camera.publish(numpy_to_image(first, make_header(1.0, "cam")))
    time.sleep(0.2)
    r.task.publish(String(json.dumps({"text": "stack the blocks", "id": "t1"})))
    r.images.wait(1)
    time.sleep(0.5)
    assert len(r.images.items) == 1  # waiting for the robot
    band = first.shape[0] // 8
    for k, view in enumerate(after):
        r.camera.publish(numpy_to_image(view, make_header(2.0 + k, "cam")))
        r.step_done.publish(String(StepDone(task_id="t1", step=k + 1, stamp_ns=int((2.0 + k) * 1e9)).to_message()))
        image = image_to_numpy(r.images.wait(k + 2)[k + 1])
        np.testing.assert_array_equal(image[band:], view[band:])  # generated from the robot's frame
    r.step_done.publish(String(StepDone(task_id="t1", step=3, stamp_ns=int(4e9)).to_message()))
    r.camera.publish(numpy_to_image(frame(12), make_header(4.0, "cam")))
    finished = r.wait_event("finished")
    assert json.loads(finished[0].data)["finished"] is True
    assert [e["step"] for e in r.events("executed")] == [1, 2, 3]


def test_closed_loop_failed_step_replans_and_a_silent_robot_times_out(rig):
    from interleave_robot.ros_nodes.context import StepDone

    r = rig(loop="closed", step_timeout_s=1.0)
    r.camera.publish(numpy_to_image(frame(1), make_header(1.0, "cam")))
    time.sleep(0.2)
    r.task.publish(String(json.dumps({"text": "stack the blocks", "id": "t2"})))
    r.images.wait(1)
    r.camera.publish(numpy_to_image(frame(2), make_header(2.0, "cam")))
    r.step_done.publish(String(StepDone(task_id="t2", step=1, success=False, reason="executor: missed",
                                        stamp_ns=int(2e9)).to_message()))
    replanned = json.loads(r.wait_event("replanned")[0].data)
    assert "executor: missed" in replanned["reason"]
    finished = json.loads(r.wait_event("finished", timeout=15)[0].data)  # nobody reports step 2: timeout
    assert finished["finished"] is False and "no step done" in finished["error"]

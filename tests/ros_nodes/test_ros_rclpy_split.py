"""Split mode on real rclpy: planner, generator and critic nodes as processes, the guidance
node talking to them over request/response topics (issue 11 items 7 and 8)."""
import collections
import json
import time

import numpy as np
import pytest

from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.messages import Image, String

from test_ros_rclpy_guidance import STEPS, Client

pytestmark = pytest.mark.dds


def test_split_nodes_serve_the_guidance_node_and_a_reactivated_agent_answers_once(launch, probe, inbox):
    launch("planner_node", {"backend": "static", "options": json.dumps({"steps": STEPS})})
    generator = launch("generator_node", {"backend": "echo"})
    launch("critic_node", {"backend": "always", "options": json.dumps({"reject_first": 1})})
    guidance = launch("guidance_node", {"mode": "split", "loop": "open", "remote_discovery_timeout_s": 20.0})
    responses = collections.Counter()
    probe.transport.subscribe("/interleave/generator/response", String, qos.RELIABLE,
                              lambda m: responses.update([json.loads(m.data)["id"]]))
    client = Client(probe, inbox)
    image = np.random.default_rng(1).integers(0, 256, size=(16, 20, 3), dtype=np.uint8)
    first = client.run("stack", image, timeout=60)[0]
    assert first["event"] == "finished" and first["finished"], first
    assert first["generator_calls"] == 4 and first["critic_rejections"] == 2  # reject_first=1 per step
    assert [m.data for m in client.texts.wait(2)] == STEPS
    # Deactivate and re-activate the generator twice: one subscription, one publisher each time.
    for _ in range(2):
        assert probe.transition("generator_node", "deactivate") and probe.transition("generator_node", "activate")
    time.sleep(1.0)  # rediscovery of the re-created endpoints
    responses.clear()
    second = client.run("stack", image, events=("finished",), n=2, timeout=60)[1]
    assert second["finished"] and second["generator_calls"] == 4, second
    assert len(responses) == 4 and set(responses.values()) == {1}, responses  # every request answered once
    for proc in (guidance, generator):
        assert proc.stop() == 0 and "Traceback" not in proc.output(), proc.output()


def test_an_inactive_agent_is_not_matched(launch, probe):
    """Item 8: while the generator node is inactive its request subscription is gone, so a
    client's matched count is 0 (the split mode's wait for a match then times out cleanly)."""
    launch("generator_node", {"backend": "echo"})
    request = probe.transport.publisher("/interleave/generator/request", String, qos.RELIABLE)
    probe.wait_matched(request)
    assert probe.transition("generator_node", "deactivate")
    deadline = time.monotonic() + 10
    while request.matched_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request.matched_count() == 0


def test_matched_count_ignores_qos_incompatible_publishers(probe):
    """Item 8: a best-effort publisher does not match a reliable subscription; matched_count
    says 0 where rclpy's count_publishers() says 1."""
    got = []
    sub = probe.transport.subscribe("/qos_check", Image, qos.RELIABLE, got.append)
    probe.transport.publisher("/qos_check", Image, qos.SENSOR_DATA)
    deadline = time.monotonic() + 5
    while probe.node.count_publishers("/qos_check") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    assert probe.node.count_publishers("/qos_check") == 1
    assert sub.matched_count() == 0
    assert any("QoS" in w or "qos" in w.lower() for w in probe.transport.qos_warnings())

"""interleave_robot_interfaces built with cmake from the rosidl wheels, and a Subgoal received
through rclpy from the guidance node (its `subgoal_topic`)."""
import json
import sys

import numpy as np
import pytest

from test_ros_rclpy_guidance import PARAMS, STEPS, Client

pytestmark = pytest.mark.dds

LISTENER = """
import json, rclpy
from interleave_robot_interfaces.msg import Subgoal
rclpy.init()
node = rclpy.create_node("subgoal_listener")
got = []
sub = node.create_subscription(Subgoal, "/interleave/subgoal", got.append, 10)
print("listening", flush=True)
while sub.get_publisher_count() == 0:  # matched the guidance node's publisher: nothing sent is lost
    rclpy.spin_once(node, timeout_sec=0.1)
print("matched", flush=True)
while len(got) < 2:
    rclpy.spin_once(node, timeout_sec=0.5)
for m in got:
    print(json.dumps({"step": m.step_index, "of": m.num_steps, "text": m.instruction, "w": m.image.width,
                      "h": m.image.height, "enc": m.image.encoding, "n": len(m.image.data),
                      "flagged": m.flagged}), flush=True)
"""


def test_subgoal_messages_arrive_through_rclpy(launch, probe, inbox, interfaces_install):
    listener = launch("subgoal_listener", env=interfaces_install, command=[sys.executable, "-c", LISTENER])
    listener.wait_for("listening", 30)
    launch("guidance_node", PARAMS | {"subgoal_topic": "/interleave/subgoal"}, env=interfaces_install)
    listener.wait_for("matched", 30)
    client = Client(probe, inbox)
    finished = client.run("stack", np.zeros((24, 32, 3), np.uint8), timeout=60)[0]
    assert finished["event"] == "finished", finished
    assert listener.wait(30) == 0, listener.output()
    got = [json.loads(line) for line in listener.output().splitlines() if line.startswith("{")]
    assert [(g["step"], g["of"], g["text"]) for g in got] == [(1, 2, STEPS[0]), (2, 2, STEPS[1])]
    assert all((g["w"], g["h"], g["enc"], g["n"], g["flagged"]) == (32, 24, "rgb8", 32 * 24 * 3, False)
               for g in got)

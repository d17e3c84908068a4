"""The rclpy code paths: a launch_testing test of the guidance node, and the rclpy transport.

Runs where ROS 2 (rclpy, launch_testing, sensor_msgs) is installed and the package is built
with colcon; skipped cleanly everywhere else (these machines cannot install rclpy).
Run with: `colcon test --packages-select interleave_robot` or `launch_test` on this file.
"""
import json
import time
import unittest

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")
launch_testing = pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed")
pytest.importorskip("sensor_msgs", reason="sensor_msgs (ROS 2) is not installed")

import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
from launch_testing.actions import ReadyToTest  # noqa: E402

STEPS = ["pick up the red block", "put it on the blue block"]


@pytest.mark.launch_test
def generate_test_description():
    node = launch_ros.actions.Node(
        package="interleave_robot", executable="guidance_node", name="guidance_node", output="screen",
        parameters=[{"planner": "static", "planner_options": json.dumps({"steps": STEPS}), "generator": "echo",
                     "critic": "always"}])
    return launch.LaunchDescription([node, ReadyToTest()])


class TestGuidanceNodeOverRclpy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()

    @classmethod
    def tearDownClass(cls):
        rclpy.shutdown()

    def test_camera_and_task_give_subgoals(self):
        from interleave_robot.ros_nodes import qos
        from interleave_robot.ros_nodes.conversion import image_to_numpy, numpy_to_image
        from interleave_robot.ros_nodes.messages import Image, String
        from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

        node = rclpy.create_node("guidance_probe")
        transport = RclpyTransport(node)
        texts, images, status = [], [], []
        transport.subscribe("/interleave/subgoal/text", String, qos.RELIABLE, texts.append)
        transport.subscribe("/interleave/subgoal/image", Image, qos.RELIABLE, images.append)
        transport.subscribe("/interleave/status", String, qos.RELIABLE, status.append)
        camera = transport.publisher("/camera/image_raw", Image, qos.SENSOR_DATA)
        task = transport.publisher("/interleave/task", String, qos.RELIABLE)
        frame = np.random.default_rng(0).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
        deadline = time.monotonic() + 30
        while (camera.matched_count() == 0 or task.matched_count() == 0) and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        camera.publish(numpy_to_image(frame))
        for _ in range(5):
            rclpy.spin_once(node, timeout_sec=0.1)
        task.publish(String("stack the blocks"))
        while len(texts) < 2 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        node.destroy_node()
        self.assertEqual([t.data for t in texts], STEPS)
        self.assertEqual(image_to_numpy(images[0]).shape, frame.shape)
        self.assertTrue(any(json.loads(s.data)["event"] == "finished" for s in status))


def test_rclpy_conversions_round_trip():
    from interleave_robot.ros_nodes.conversion import make_header, numpy_to_image
    from interleave_robot.ros_nodes.messages import Image, String
    from interleave_robot.ros_nodes.transport_rclpy import from_ros, to_ros

    msg = numpy_to_image(np.arange(24, dtype=np.uint8).reshape(2, 4, 3), make_header(1.5, "cam"))
    back = from_ros(to_ros(msg), Image)
    assert back == msg
    assert from_ros(to_ros(String("x")), String) == String("x")

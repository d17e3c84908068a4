"""The sim bridge on its own: nothing hangs when no guidance node is there."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import time  # noqa: E402

from interleave_robot.ros_nodes.sim_bridge import SimBridge, SimBridgeConfig  # noqa: E402
from interleave_robot.ros_nodes.transport_dds import DDSTransport  # noqa: E402


def test_missing_guidance_node_ends_the_episode_with_the_reason(dds_config, ns):
    with DDSTransport(dds_config) as t:
        bridge = SimBridge(t, SimBridgeConfig(family="stack", seed=1, steps=2, camera_topic=ns + "/cam",
                                              context_topic=ns + "/ctx", task_topic=ns + "/task",
                                              subgoal_image_topic=ns + "/img", subgoal_text_topic=ns + "/txt",
                                              status_topic=ns + "/status", discovery_timeout_s=0.5))
        try:
            start = time.monotonic()
            result = bridge.run_episode()
            assert time.monotonic() - start < 10
        finally:
            bridge.close()
    assert not result.success and "no guidance node subscribed to" in result.failure
    assert result.execution == [] and result.initial_image is None and result.final_image.shape == (128, 128, 3)

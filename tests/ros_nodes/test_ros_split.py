"""Split mode over real DDS: planner, generator and critic servers as separate participants."""
import json
import time

import numpy as np
import pytest

from interleave_robot.backends.scripted import (AlwaysCritic, AlwaysCriticConfig, EchoGenerator, EchoGeneratorConfig,
                                                StaticPlanner, StaticPlannerConfig)
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError, OutputFormatError
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.conversion import image_to_numpy, numpy_to_image
from interleave_robot.ros_nodes.guidance_logic import GuidanceLogic, GuidanceNodeConfig
from interleave_robot.ros_nodes.messages import Image, String
from interleave_robot.ros_nodes.split_logic import (AgentServer, AgentServerConfig, RemoteAgentConfig, RemoteCritic,
                                                    RemoteGenerator, RemotePlanner)
from interleave_robot.ros_nodes.transport_dds import DDSTransport
from interleave_robot.types import GenerationRequest, Observation

STEPS = ["pick up the red block", "put it on the blue block"]

pytestmark = pytest.mark.dds  # DDS on loopback, inside the test network namespace


def test_split_nodes_give_the_same_subgoals_as_all_in_one(dds_config, ns, inbox, wait_matched):
    image = np.random.default_rng(4).integers(0, 256, size=(16, 20, 3), dtype=np.uint8)
    local = GuidancePipeline(StaticPlanner(StaticPlannerConfig(steps=STEPS)), EchoGenerator(EchoGeneratorConfig()),
                             AlwaysCritic(AlwaysCriticConfig(reject_first=1))).run("stack", Observation(image=image))
    prefix = ns + "/interleave"
    servers = DDSTransport(dds_config)
    node_side = DDSTransport(dds_config)
    robot = DDSTransport(dds_config)
    try:
        # The generator is built from the registry by name, as the generator node does.
        AgentServer(servers, AgentServerConfig(role="generator", backend="echo", prefix=prefix)).activate()
        AgentServer(servers, AgentServerConfig(role="planner", backend="static", options={"steps": STEPS},
                                               prefix=prefix)).activate()
        critic = AgentServer(servers, AgentServerConfig(role="critic", backend="always", prefix=prefix),
                             agent=AlwaysCritic(AlwaysCriticConfig(reject_first=1))).activate()
        remote = RemoteAgentConfig(prefix=prefix, timeout_s=10)
        pipeline = GuidancePipeline(RemotePlanner(node_side, remote), RemoteGenerator(node_side, remote),
                                    RemoteCritic(node_side, remote), PipelineConfig())
        config = GuidanceNodeConfig(camera_topic=ns + "/cam", task_topic=ns + "/task", plan_topic=prefix + "/plan",
                                    subgoal_image_topic=prefix + "/sub/img", subgoal_text_topic=prefix + "/sub/txt",
                                    status_topic=prefix + "/status", loop="open")
        node = GuidanceLogic(node_side, pipeline, config).start()
        images, status = inbox(), inbox()
        robot.subscribe(config.subgoal_image_topic, Image, qos.RELIABLE, images)
        robot.subscribe(config.status_topic, String, qos.RELIABLE, status)
        cam = robot.publisher(config.camera_topic, Image, qos.SENSOR_DATA)
        task = robot.publisher(config.task_topic, String, qos.RELIABLE)
        wait_matched(cam)
        wait_matched(task)
        cam.publish(numpy_to_image(image))
        time.sleep(0.2)
        task.publish(String("stack"))
        status.wait(1, 20, where=lambda m: json.loads(m.data)["event"] == "finished")
        got = [image_to_numpy(m) for m in images.wait(2)]
        for sub, step in zip(got, local.steps):
            np.testing.assert_array_equal(sub, step.accepted.image)
        assert critic.served == 4
        node.close()
        node.wait_idle(10)
    finally:
        robot.close()
        node_side.close()
        servers.close()


def test_missing_server_times_out_and_the_run_is_flagged(dds_config, ns):
    with DDSTransport(dds_config) as t:
        generator = RemoteGenerator(t, RemoteAgentConfig(prefix=ns, discovery_timeout_s=0.3, timeout_s=1))
        start = time.monotonic()
        with pytest.raises(BackendTimeoutError, match="no generator node"):
            generator.generate(GenerationRequest(prompt="x", seed=0))
        assert time.monotonic() - start < 3
        pipeline = GuidancePipeline(StaticPlanner(StaticPlannerConfig(steps=STEPS)), generator, None,
                                    PipelineConfig(max_attempts_per_step=1))
        traj = pipeline.run("stack", Observation(image=np.zeros((4, 4, 3), np.uint8)))
        assert traj.finished and all(s.flagged for s in traj.steps)
        assert "no generator node" in traj.steps[0].attempts[0].error


def test_remote_errors_arrive_typed(dds_config, ns):
    with DDSTransport(dds_config) as servers, DDSTransport(dds_config) as client:
        AgentServer(servers, AgentServerConfig(role="generator", backend="echo", prefix=ns),
                    agent=EchoGenerator(EchoGeneratorConfig(fail_calls=[0]))).activate()
        AgentServer(servers, AgentServerConfig(role="critic", backend="always", prefix=ns),
                    agent=AlwaysCritic(AlwaysCriticConfig(answers=["no tags, no json"]))).activate()
        remote = RemoteAgentConfig(prefix=ns, timeout_s=10)
        generator = RemoteGenerator(client, remote)
        with pytest.raises(BackendError, match="injected failure"):
            generator.generate(GenerationRequest(prompt="x", seed=0))
        out = generator.generate(GenerationRequest(prompt="x", seed=0, source_image=np.zeros((4, 4, 3), np.uint8)))
        assert out.image.shape == (4, 4, 3) and out.metadata["call_index"] == 1
        from interleave_robot.types import CritiqueRequest

        with pytest.raises(OutputFormatError):
            RemoteCritic(client, remote).critique(CritiqueRequest(
                before_image=np.zeros((4, 4, 3), np.uint8), after_image=np.zeros((4, 4, 3), np.uint8),
                instruction="i", prompt="p"))
        # A malformed request is answered with an error, and the server keeps serving.
        bad = client.publisher(ns + "/generator/request", String, qos.RELIABLE)
        bad.publish(String(json.dumps({"id": "bad-1", "prompt": 3})))
        bad.publish(String("not json at all"))
        assert generator.generate(GenerationRequest(prompt="y", seed=1)).image.shape == (64, 64, 3)


def test_server_config_is_validated():
    with pytest.raises(ConfigError, match="role"):
        AgentServerConfig(role="judge")
    with pytest.raises(ConfigError, match="unknown generator backend"):
        AgentServerConfig(role="generator", backend="nope")
    with pytest.raises(ConfigError, match="timeout_s"):
        RemoteAgentConfig(timeout_s=0)


def test_a_full_server_queue_refuses_instead_of_piling_up(dds_config, ns):
    from interleave_robot.ros_nodes.split_logic import MAX_PENDING

    with DDSTransport(dds_config) as servers, DDSTransport(dds_config) as client:
        AgentServer(servers, AgentServerConfig(role="generator", backend="echo", prefix=ns),
                    agent=EchoGenerator(EchoGeneratorConfig(sleep_s=0.5))).activate()
        remote = RemoteAgentConfig(prefix=ns, timeout_s=30)
        import concurrent.futures

        calls = [RemoteGenerator(client, remote) for _ in range(MAX_PENDING + 3)]
        with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
            futures = [pool.submit(g.generate, GenerationRequest(prompt="p", seed=i)) for i, g in enumerate(calls)]
            errors = [f.exception() for f in futures]
        refused = [e for e in errors if e is not None]
        assert refused and all("queue full" in str(e) for e in refused)
        assert len(refused) <= 3

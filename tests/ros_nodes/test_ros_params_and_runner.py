"""Node parameters from the shipped params YAML, and the DDS-direct node runner as a real process."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes.dds_main import start_node
from interleave_robot.ros_nodes.guidance_logic import GuidanceNodeConfig
from interleave_robot.ros_nodes.node_setup import AgentsConfig, config_from_parameters, parameter_defaults
from interleave_robot.ros_nodes.ros_params import split_parameters, yaml_parameters
from interleave_robot.ros_nodes.sim_bridge import SimBridgeConfig
from interleave_robot.ros_nodes.split_logic import AgentServerConfig, RemoteAgentConfig, RemoteGenerator
from interleave_robot.ros_nodes.transport_dds import DDSTransport
from interleave_robot.types import GenerationRequest

LAUNCH = Path(__file__).resolve().parents[2] / "launch"
NODE_CLASSES = {"guidance_node": (GuidanceNodeConfig, AgentsConfig), "planner_node": (AgentServerConfig,),
                "generator_node": (AgentServerConfig,), "critic_node": (AgentServerConfig,),
                "sim_bridge_node": (SimBridgeConfig,)}
EXTRA = {"autostart", "episodes"}  # node-level parameters outside the config classes


@pytest.mark.parametrize("path", sorted(LAUNCH.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_params_file_builds_valid_configs(path):
    import yaml

    for node in yaml.safe_load(path.read_text()):
        values = {k: v for k, v in yaml_parameters(path, node).items() if k not in EXTRA}
        if node.replace("_node", "") in ("planner", "generator", "critic"):
            values["role"] = node.replace("_node", "")
        configs = split_parameters(values, *NODE_CLASSES[node])
        assert configs, node


def test_parameters_round_trip_through_json_text():
    defaults = parameter_defaults(AgentsConfig)
    assert defaults["planner_options"] == "{}" and defaults["remote_timeout_s"] == 600.0
    config = config_from_parameters(AgentsConfig, {"planner_options": '{"steps": ["a", "b"]}',
                                                   "pipeline": '{"max_attempts_per_step": 2}', "critic": ""})
    assert config.planner_options == {"steps": ["a", "b"]} and config.pipeline_config.max_attempts_per_step == 2
    with pytest.raises(ConfigError, match="not valid JSON"):
        config_from_parameters(AgentsConfig, {"pipeline": "{oops"})
    with pytest.raises(ConfigError, match="unknown generator backend"):
        AgentsConfig(generator="magic")
    with pytest.raises(ConfigError, match="max_attempts_per_step"):
        AgentsConfig(pipeline={"max_attempts_per_step": 0})
    with pytest.raises(ConfigError, match="unknown parameter"):
        split_parameters({"camera_topic": "/c", "bogus": 1}, GuidanceNodeConfig)


def test_split_mode_builds_remote_agents_without_loading_models(dds_config):
    with DDSTransport(dds_config) as t:
        pipeline = AgentsConfig(mode="split", remote_agents=["generator"], planner_options={"steps": ["a"]},
                                remote_discovery_timeout_s=0.2).build(t)
        assert type(pipeline.generator).__name__ == "RemoteGenerator"
        assert type(pipeline.planner).__name__ == "StaticPlanner"
        with pytest.raises(ConfigError, match="unknown agent"):
            AgentsConfig(mode="split", remote_agents=["judge"])


def test_guidance_node_starts_from_parameters(dds_config, ns):
    with DDSTransport(dds_config) as t:
        node = start_node("guidance", t, {"planner_options": {"steps": ["a"]}, "camera_topic": ns + "/cam",
                                          "autostart": True})
        assert node.logic.config.camera_topic == ns + "/cam"
        node.close()
        node.close()  # idempotent
        assert node.logic is None


def test_generator_node_runs_over_dds_in_its_own_process(dds_config, ns, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(f"generator_node:\n  ros__parameters:\n    backend: echo\n    prefix: {ns}\n"
                      "    options: '{\"size\": 8}'\n")
    proc = subprocess.Popen([sys.executable, "-m", "interleave_robot.ros_nodes.dds_main", "generator",
                             "--params", str(params), "--domain-id", str(dds_config.domain_id), "--loopback"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline())["node"] == "generator"
        with DDSTransport(dds_config) as t:
            generator = RemoteGenerator(t, RemoteAgentConfig(prefix=ns, discovery_timeout_s=15, timeout_s=15))
            out = generator.generate(GenerationRequest(prompt="p", seed=3))
            assert out.image.shape == (8, 8, 3) and out.metadata == {"call_index": 0, "seed": 3}
            source = np.full((6, 6, 3), 9, np.uint8)
            out = generator.generate(GenerationRequest(prompt="p", seed=4, source_image=source))
            np.testing.assert_array_equal(out.image[1:], source[1:])
    finally:
        proc.terminate()
        assert proc.wait(15) == 0  # SIGTERM: a clean exit


def test_runner_reports_bad_parameters_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "interleave_robot.ros_nodes.dds_main", "critic", "--loopback",
                          "--domain-id", "230", "-p", "backend:=nonexistent"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "unknown critic backend" in out.stderr and "Traceback" not in out.stderr

"""Every registered env passes Gymnasium's check_env and behaves as the contract says."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import interleave_robot.sim_envs as sim
from interleave_robot.types import CameraModel, Observation
from interleave_robot.sim_envs.scene import SimSnapshot


@pytest.mark.parametrize("env_id", sorted(sim.ENV_IDS.values()))
def test_check_env(env_id):
    env = gym.make(env_id)
    try:
        check_env(env.unwrapped, skip_render_check=True)
        obs, info = env.reset(seed=3)
        assert obs["rgb"].shape == (128, 128, 3) and obs["rgb"].dtype == np.uint8
        assert obs["depth"].dtype == np.float32 and 0.3 < float(np.median(obs["depth"])) < 1.5
        assert info["task"].family == env.unwrapped.config.family and not info["is_success"]
        assert {"reward_progress", "reward_success", "relations_satisfied"} <= set(info)
        observation = env.unwrapped.observation()
        assert isinstance(observation, Observation) and isinstance(observation.camera, CameraModel)
        assert isinstance(observation.state, SimSnapshot)
        assert info["task"].spec["scene"] == observation.state.spec.to_dict()
    finally:
        env.close()


def test_step_moves_the_gripper_and_closes_the_fingers():
    env = gym.make("InterleaveRobot/Stack-v0")
    try:
        obs, _ = env.reset(seed=0)
        start = obs["gripper"].copy()
        for _ in range(10):
            obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0, -1.0, 1.0], np.float32))
        assert obs["gripper"][0] > start[0] + 0.1 and obs["gripper"][2] < start[2] - 0.1
        assert obs["gripper"][3] < 0.01 < start[3]  # fingers closed (gap in metres)
        assert 0.0 <= reward <= 2.0 and not truncated
    finally:
        env.close()


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="known: stack, sort, line, pick_place"):
        sim.env_id("juggle")
    with pytest.raises(ValueError, match="unknown task family"):
        gym.make("InterleaveRobot/Stack-v0", family="juggle")
    env = gym.make("InterleaveRobot/Line-v0")
    try:
        with pytest.raises(ValueError, match="unknown colour 'pink'"):
            env.reset(seed=0, options={"colors": ["pink", "red", "blue", "green"]})
        with pytest.raises(ValueError, match="unknown reset option"):
            env.reset(seed=0, options={"speed": 3})
        env.reset(seed=0)
        with pytest.raises(ValueError, match="4 finite floats"):
            env.step(np.zeros(3, np.float32))
    finally:
        env.close()


def test_replaying_a_task_gives_its_layout():
    env = gym.make("InterleaveRobot/Sort-v0")
    try:
        _, info = env.reset(seed=11)
        first = env.unwrapped.state()
        env.reset(seed=99)
        _, info2 = env.reset(options={"task": info["task"]})
        assert info2["task"].text == info["task"].text
        again = env.unwrapped.state()
        for name, pos in first.positions.items():
            assert np.allclose(pos, again.positions[name], atol=1e-6)
    finally:
        env.close()

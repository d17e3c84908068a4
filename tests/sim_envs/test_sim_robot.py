"""SimRobot hands the executor the latest Gymnasium obs/info, so no step costs an extra look step."""
from __future__ import annotations

import numpy as np

from interleave_robot.sim_envs import executor as executor_module
from interleave_robot.sim_envs.episode import EpisodeConfig, push_block


def _spy(monkeypatch):
    """Record, at every execute call, whether obs/info came and whether obs is the env's current frame."""
    calls = []
    real = executor_module.SubgoalExecutor.execute

    def execute(self, env, image, instruction="", obs=None, info=None):
        current = None if obs is None else bool(
            np.array_equal(obs["rgb"], env.unwrapped.observation().image)
            and np.allclose(obs["gripper"], env.unwrapped.observation().metadata["gripper"], atol=1e-6))
        calls.append({"obs": obs is not None, "info": info is not None, "current": current})
        return real(self, env, image, instruction, obs=obs, info=info)

    monkeypatch.setattr(executor_module.SubgoalExecutor, "execute", execute)
    return calls


def test_every_step_gets_the_latest_obs_and_info(runner, monkeypatch):
    calls = _spy(monkeypatch)
    result = runner.run(EpisodeConfig(family="stack", seed=21, steps=2, fault_rate=0.0, critic="none"))
    assert len(calls) == 2 and result.success, result.failure
    assert all(c == {"obs": True, "info": True, "current": True} for c in calls), calls


def test_after_a_disturbance_the_obs_is_the_disturbed_frame(runner, monkeypatch):
    calls = _spy(monkeypatch)

    def disturb(env, step_index):
        if step_index == 0:
            push_block(env, env.unwrapped.scene_spec.blocks[-1].name, 0.004, 0.0)

    runner.run(EpisodeConfig(family="line", seed=22, steps=2, fault_rate=0.0, critic="none"), disturb=disturb)
    assert len(calls) == 2
    assert all(c == {"obs": True, "info": True, "current": True} for c in calls), calls

"""The same seed gives the same layout, images and episode outcome."""
import gymnasium as gym
import numpy as np

import interleave_robot.sim_envs  # noqa: F401  (registers the ids)
from interleave_robot.sim_envs.episode import EpisodeConfig


def test_env_reset_and_steps_are_deterministic():
    envs = [gym.make("InterleaveRobot/PickPlace-v0") for _ in range(2)]
    try:
        runs = []
        for env in envs:
            obs, info = env.reset(seed=21)
            frames = [obs["rgb"]]
            for k in range(15):
                obs, *_ = env.step(np.array([0.5, -0.3, -0.6, float(k > 7)], np.float32))
                frames.append(obs["rgb"])
            runs.append((info["task"].text, frames, env.unwrapped.state().positions))
        assert runs[0][0] == runs[1][0] and runs[0][2] == runs[1][2]
        assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
        other, _ = envs[0].reset(seed=22)
        assert not np.array_equal(other["rgb"], runs[0][1][0])
    finally:
        for env in envs:
            env.close()


def test_same_seed_same_episode(runner):
    config = EpisodeConfig(family="stack", seed=5, fault_rate=0.5, use_critic=True, steps=2)
    a, b = runner.run(config), runner.run(config)
    assert a.to_dict() | {"seconds": 0} == b.to_dict() | {"seconds": 0}
    assert np.array_equal(a.final_image, b.final_image)
    assert a.attempt_faults  # the fault model was exercised


def test_same_seed_same_episode_in_both_loops_and_fresh_runners():
    from interleave_robot.sim_envs.episode import EpisodeRunner

    for loop in ("closed", "open"):
        config = EpisodeConfig(family="sort", seed=5002, fault_rate=0.5, steps=2, loop=loop, execution_noise=0.005)
        results = []
        for _ in range(2):  # a fresh runner each time: nothing carried over between episodes
            with EpisodeRunner() as runner:
                results.append(runner.run(config).to_dict() | {"seconds": 0})
        assert results[0] == results[1]
        assert results[0]["loop"] == loop and results[0]["seed"] == 5002

"""Env steps render their frames only when read (lazy_observation.py), with the same frames."""
import copy
import pickle

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

import interleave_robot.sim_envs  # noqa: F401  (registers the ids)
from interleave_robot.sim_envs.lazy_observation import LazyObservation
from interleave_robot.sim_envs.rendering import SceneRenderer

ACTION = np.array([0.3, 0.1, -0.2, 1.0], np.float32)


def _pair():
    eager = gym.make("InterleaveRobot/Stack-v0", render_on_demand=False)
    lazy = gym.make("InterleaveRobot/Stack-v0")
    return eager, lazy


def test_frames_equal_the_eager_ones():
    eager, lazy = _pair()
    try:
        oe, _ = eager.reset(seed=3)
        ol, _ = lazy.reset(seed=3)
        history = [(oe, ol)]
        assert isinstance(lazy.step(ACTION)[0], LazyObservation) and eager.step(ACTION)
        for _ in range(12):
            history.append((eager.step(ACTION)[0], lazy.step(ACTION)[0]))
            e, lz = history[-1]  # the latest frame: bit-exact
            assert np.array_equal(e["rgb"], lz["rgb"]) and np.array_equal(e["depth"], lz["depth"])
        eager.step(ACTION)
        lazy.step(ACTION)
        # Frames read after the env moved on are drawn from their step's saved state: the same frames.
        for e, lz in history:
            lz = {k: lz[k] for k in ("rgb", "depth", "gripper")}
            assert np.array_equal(e["gripper"], lz["gripper"])
            assert np.array_equal(e["rgb"], lz["rgb"]) and np.array_equal(e["depth"], lz["depth"])
    finally:
        eager.close()
        lazy.close()


def test_unread_frames_are_never_rendered(monkeypatch):
    calls = []
    for name in ("rgb", "depth"):
        original = getattr(SceneRenderer, name)
        monkeypatch.setattr(SceneRenderer, name, lambda self, *a, _o=original, _n=name, **k: (calls.append(_n), _o(self, *a, **k))[1])
    env = gym.make("InterleaveRobot/Stack-v0")
    try:
        env.reset(seed=0)
        env.step(ACTION)  # gymnasium's passive checker reads the first two steps' observations
        env.step(ACTION)
        calls.clear()
        for _ in range(20):
            obs = env.step(ACTION)[0]
            assert obs["gripper"].shape == (4,)
        assert calls == []
        assert sorted(obs.pending) == ["depth", "rgb"]
        obs["rgb"], obs["rgb"]
        assert calls == ["rgb"] and obs.pending == ["depth"]  # once, then kept
    finally:
        env.close()


def test_gymnasium_contract_holds():
    env = gym.make("InterleaveRobot/Line-v0")
    try:
        obs, _ = env.reset(seed=1)
        assert env.observation_space.contains(obs)
        plain = pickle.loads(pickle.dumps(obs))
        assert plain.pending == [] and np.array_equal(plain["rgb"], obs["rgb"])
        deep = copy.deepcopy(env.step(ACTION)[0])
        assert deep.pending == [] and deep["rgb"].shape == (128, 128, 3)
        assert {k: v.shape for k, v in obs.items()} == {"rgb": (128, 128, 3), "depth": (128, 128), "gripper": (4,)}
        # an unread frame survives a reset onto another scene (drawn before the model changes)
        pending = env.step(ACTION)[0]
        before = env.unwrapped.observation().image
        env.reset(seed=7)
        assert np.array_equal(pending["rgb"], before)
    finally:
        env.close()
    check_env(gym.make("InterleaveRobot/Sort-v0").unwrapped, skip_render_check=True)

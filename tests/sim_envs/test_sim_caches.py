"""The simulator's caches change no result: scene simulators shared by the generator and the judge,
their remembered renders, the env's last frames and fixed camera (env_cache.py, tabletop_env.py)."""
import gymnasium as gym
import numpy as np

import interleave_robot.sim_envs  # noqa: F401  (registers the ids)
from interleave_robot.sim_envs.env_cache import SceneSim, cached_scene, close_cached_envs
from interleave_robot.sim_envs.episode import EpisodeConfig, EpisodeRunner
from interleave_robot.sim_envs.judge import SimulationJudge
from interleave_robot.sim_envs.placement import apply_subgoal
from interleave_robot.sim_envs.scene import SceneSpec
from interleave_robot.sim_envs.sim_generator import SimulatedGenerator
from interleave_robot.sim_envs.tabletop_env import TabletopEnv
from interleave_robot.sim_envs.tasks import goal_of

from .conftest import sample

SEED = 7300  # not the benchmark's seeds


def _renders(scene_of, spec, states):
    out = []
    for state, steps, duplicate in states:
        image, settled = scene_of().render(state, steps, duplicate)
        out.append((image, settled.to_dict()))
    return out


def test_shared_remembered_renders_equal_fresh_simulators():
    task, state = sample("sort", SEED, steps=2)
    spec = SceneSpec.from_dict(task.spec["scene"])
    goal = goal_of(task.spec)
    moved = apply_subgoal(spec, state, goal[0])
    bins_moved = state.copy()
    for b in spec.bins:
        bins_moved.positions[b.name][0] += 0.02
    no_bins = state.copy()
    for b in spec.bins:
        del no_bins.positions[b.name]
    block = spec.blocks[0].name
    calls = [(state, 0, None), (moved, 150, None), (bins_moved, 150, None), (no_bins, 150, None),
             (moved, 150, (block, [0.1, 0.05])), (moved, 150, None), (state, 0, None), (no_bins, 150, None)]
    close_cached_envs()
    shared = _renders(lambda: cached_scene(spec), spec, calls)
    scene = cached_scene(spec)
    assert scene is cached_scene(spec) and scene.hits == 3 and scene.misses == 5
    fresh = []
    for call in calls:  # a new model, data and GL context per render: what nothing remembers
        sim = SceneSim(spec)
        fresh += _renders(lambda: sim, spec, [call])
        sim.close()
    for (a, sa), (b, sb) in zip(shared, fresh):
        assert np.array_equal(a, b) and sa == sb
    assert not np.array_equal(shared[0][0], shared[1][0])  # the states do differ
    shared[1][0][:] = 0  # a caller's copy: the remembered render is untouched
    assert np.array_equal(scene.render(moved, 150)[0], fresh[1][0])
    close_cached_envs()


def test_generator_and_judge_share_one_scene_and_its_renders():
    task, state = sample("stack", SEED, steps=2)
    spec = SceneSpec.from_dict(task.spec["scene"])
    subgoal = goal_of(task.spec)[0]
    close_cached_envs()
    generator, judge = SimulatedGenerator(), SimulationJudge()
    try:
        image, _ = generator.render_state(spec, apply_subgoal(spec, state, subgoal))
        goal = judge.goal_image(spec, state, subgoal)
        scene = cached_scene(spec)
        assert np.array_equal(image, goal) and scene.hits == 1 and scene.misses == 1
        assert generator.model is scene.model
    finally:
        generator.close()
        judge.close()
        close_cached_envs()


def test_env_frames_and_camera_from_the_caches_equal_fresh_ones():
    eager = gym.make("InterleaveRobot/Stack-v0", render_on_demand=False)
    lazy = gym.make("InterleaveRobot/Stack-v0")
    try:
        eager.reset(seed=SEED)
        obs, info = lazy.reset(seed=SEED)
        obs["rgb"]
        info["camera"].world_from_camera[0][0] = 99.0  # a caller changing its copy changes nothing else
        for k in range(6):
            action = np.array([0.4, -0.2, -0.3, float(k > 2)], np.float32)
            oe, *_, ie = eager.step(action)
            ol, *_, il = lazy.step(action)
            assert np.array_equal(oe["rgb"], ol["rgb"]) and np.array_equal(oe["depth"], ol["depth"])
            assert ie["camera"] == il["camera"] and il["camera"].world_from_camera[0][0] != 99.0
        a, b = eager.unwrapped.observation(), lazy.unwrapped.observation()  # drawn already: from the cache
        assert np.array_equal(a.image, b.image) and np.array_equal(a.depth, b.depth)
        assert a.state.to_dict() == b.state.to_dict()
        assert a.camera == b.camera == TabletopEnv.camera.fget(lazy.unwrapped)
    finally:
        eager.close()
        lazy.close()


def test_episodes_with_and_without_the_caches_are_identical(monkeypatch):
    configs = [EpisodeConfig(family="stack", seed=SEED, steps=3, fault_rate=0.5),
               EpisodeConfig(family="sort", seed=SEED + 1, steps=2, fault_rate=0.5, critic="none")]

    def run_all():
        close_cached_envs()
        with EpisodeRunner() as runner:
            out = [runner.run(c) for c in configs]
        close_cached_envs()
        return [(r.to_dict() | {"seconds": 0}, r.final_image) for r in out]

    cached = run_all()
    monkeypatch.setattr(SceneSim, "MAX_RENDERS", 0)  # nothing remembered
    monkeypatch.setattr(TabletopEnv, "_frame", lambda self, pose, depth: self._draw(pose, depth))
    uncached = run_all()
    for (a, fa), (b, fb) in zip(cached, uncached):
        assert a == b and np.array_equal(fa, fb)
    assert any(j["right"] is not None for a, _ in cached for j in a["judge"])

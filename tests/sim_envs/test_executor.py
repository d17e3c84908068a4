"""The executor in the real env: it follows right subgoal images (rendered from the ground-truth
subgoal state) to task success, and fails with a reason on wrong ones, never raising."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import interleave_robot.sim_envs  # noqa: E402,F401  (registers the env ids)
from interleave_robot.errors import ConfigError  # noqa: E402
from interleave_robot.sim_envs.executor import ExecutorConfig, SubgoalExecutor  # noqa: E402
from interleave_robot.sim_envs.language import Subgoal, describe_subgoal, natural_phrases  # noqa: E402
from interleave_robot.sim_envs.placement import apply_subgoal, relation_holds  # noqa: E402
from interleave_robot.sim_envs.registration import env_id  # noqa: E402
from interleave_robot.sim_envs.tasks import goal_of  # noqa: E402

from .perception_scenes import SceneRenderer  # noqa: E402


@pytest.fixture
def make_env():
    envs = []

    def make(family: str, seed: int):
        env = gym.make(env_id(family))
        _, info = env.reset(seed=seed)
        envs.append(env)
        return env, info["task"]

    yield make
    for env in envs:
        env.close()


def _subgoal_image(env, subgoal: Subgoal, state=None) -> np.ndarray:
    """The subgoal image a perfect generator would draw: the ground-truth state after the step."""
    base = env.unwrapped
    renderer = SceneRenderer(base.scene_spec)
    try:
        target = apply_subgoal(base.scene_spec, base.state(), subgoal) if state is None else state
        return renderer.render(target)[0]
    finally:
        renderer.close()


@pytest.mark.parametrize("family,seed", [("stack", 0), ("sort", 1), ("line", 2), ("pick_place", 3)])
def test_follows_right_subgoal_images_to_success(make_env, family, seed):
    env, task = make_env(family, seed)
    base = env.unwrapped
    executor = SubgoalExecutor()
    goal = goal_of(task.spec)
    for subgoal in goal:
        image = _subgoal_image(env, subgoal)
        words = base.scene_spec.get(subgoal.obj).words
        result = executor.execute(env, image, natural_phrases(subgoal, base.scene_spec)[0])
        assert result.success, result.reason
        assert base.scene_spec.get(result.moved_object).color == base.scene_spec.get(subgoal.obj).color
        assert words.split()[0] in result.reason
        assert relation_holds(base.scene_spec, base.state(), subgoal)
        assert 0 < result.env_steps < 400
        assert len(result.target_xyz) == 3
    assert base.is_success()


def test_follows_the_image_without_an_instruction(make_env):
    env, task = make_env("stack", 5)
    subgoal = goal_of(task.spec)[0]
    result = SubgoalExecutor().execute(env, _subgoal_image(env, subgoal), "")
    assert result.success, result.reason
    assert relation_holds(env.unwrapped.scene_spec, env.unwrapped.state(), subgoal)


def test_wrong_object_in_the_image_fails_with_reason(make_env):
    env, task = make_env("stack", 0)
    base = env.unwrapped
    subgoal = goal_of(task.spec)[0]
    other = next(b.name for b in base.scene_spec.blocks if b.name not in (subgoal.obj, *subgoal.reference))
    wrong = _subgoal_image(env, Subgoal(other, subgoal.relation, subgoal.reference))
    obs, info = env.step(np.array([0.0, 0.0, 0.0, -1.0], np.float32))[::4]  # the latest obs/info: no look step
    before = base.state()
    result = SubgoalExecutor().execute(env, wrong, describe_subgoal(subgoal, base.scene_spec), obs, info)
    assert not result.success
    assert result.reason.startswith("wrong object")
    assert result.env_steps == 0 and base.state().positions == before.positions


def test_missing_object_fails_with_reason(make_env):
    env, task = make_env("line", 1)
    base = env.unwrapped
    subgoal = goal_of(task.spec)[0]
    gone = base.state()
    gone.positions[subgoal.obj] = [0.0, 0.55, 0.02]  # off the table's far edge: out of view
    result = SubgoalExecutor().execute(env, _subgoal_image(env, subgoal, gone), "")
    assert not result.success and result.reason.startswith("object missing"), result.reason


def test_unchanged_or_malformed_images_fail_with_reason(make_env):
    env, task = make_env("pick_place", 0)
    base = env.unwrapped
    executor = SubgoalExecutor()
    same = executor.execute(env, base.observation().image, "")
    assert not same.success and "no block moved" in same.reason
    small = executor.execute(env, np.zeros((32, 32, 3), np.uint8), "")
    assert not small.success and "32x32" in small.reason
    wrong_type = executor.execute(env, np.zeros((128, 128, 3), np.float32), "")
    assert not wrong_type.success and "uint8" in wrong_type.reason


def test_config_is_validated():
    with pytest.raises(ConfigError, match="grip_steps"):
        ExecutorConfig(grip_steps=0)
    with pytest.raises(ConfigError, match="travel_clearance"):
        ExecutorConfig(travel_clearance=-1)

"""Privilege as a type: the critic and the executor see what a camera and a scene inventory give.
Every privileged input (the task's goal and initial state, the simulator state behind a frame,
`env.unwrapped`) is swapped for garbage, and both behave exactly as before."""
import dataclasses
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import interleave_robot.sim_envs  # noqa: E402,F401  (registers the env ids)
from interleave_robot.agents import Critic, Generator, Planner  # noqa: E402
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig  # noqa: E402
from interleave_robot.types import CritiqueRequest, GenerationRequest, GenerationResult, Observation, Task  # noqa: E402
from interleave_robot.sim_envs.executor import SubgoalExecutor  # noqa: E402
from interleave_robot.sim_envs.language import describe_subgoal  # noqa: E402
from interleave_robot.sim_envs.perception_critic import PerceptionCritic  # noqa: E402
from interleave_robot.sim_envs.registration import env_id  # noqa: E402
from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator  # noqa: E402
from interleave_robot.sim_envs.tabletop_env import TabletopEnv  # noqa: E402
from interleave_robot.sim_envs.tasks import goal_of  # noqa: E402
from interleave_robot.sim_envs.teacher import TeacherPlanner  # noqa: E402

GARBAGE_SPEC = {"family": "stack", "goal": [{"obj": "nothing", "relation": "on", "reference": ["void"]}],
                "scene": {"objects": [], "image_width": 1, "image_height": 1},
                "initial_state": {"positions": {"x": [9.0, 9.0, 9.0]}, "quaternions": {}}, "phrasing": -1}


def test_critique_request_has_no_privileged_field():
    names = {f.name for f in dataclasses.fields(CritiqueRequest)}
    assert names == {"before_image", "after_image", "instruction", "prompt", "step", "plan", "task_text",
                     "inventory", "camera"}


class _Replay(Planner, Generator):
    """Plays back a recorded plan and recorded images, whatever the task and state say."""

    def __init__(self, plan, results):
        self._plan, self._results = plan, list(results)

    def plan(self, task, observation):
        return self._plan

    def generate(self, request):
        image, metadata = self._results.pop(0)
        return GenerationResult(image=image, state=None, metadata=metadata)


class _Spy(Critic):
    def __init__(self):
        self.inner, self.seen = PerceptionCritic(), []

    def critique(self, request):
        verdict = self.inner.critique(request)
        self.seen.append((request, verdict))
        return verdict


def _same_requests(a: CritiqueRequest, b: CritiqueRequest) -> bool:
    return (np.array_equal(a.before_image, b.before_image) and np.array_equal(a.after_image, b.after_image)
            and (a.instruction, a.prompt, a.task_text, a.inventory, a.camera, a.step)
            == (b.instruction, b.prompt, b.task_text, b.inventory, b.camera, b.step))


def test_critic_verdicts_do_not_change_when_privileged_inputs_are_garbage():
    env = gym.make(env_id("pick_place"))
    try:
        _, info = env.reset(seed=6150)
        observation = env.unwrapped.observation()
    finally:
        env.close()
    task = info["task"]
    generator = SimulatedGenerator(SimGeneratorConfig(fault_rate=0.5))
    spy = _Spy()
    config = PipelineConfig(max_attempts_per_step=3, seed=6150, loop="open")
    first = GuidancePipeline(TeacherPlanner(), generator, spy, config).run(task, observation)
    generator.close()
    recorded = [(a.image, a.metadata) for s in first.steps for a in s.attempts]
    assert len(spy.seen) == len(recorded) >= 2 and any(not v.success for _, v in spy.seen)
    # Again, from a task whose goal and initial state are garbage and a frame whose simulator state is.
    garbage_task = Task(text=task.text, family=task.family, spec=GARBAGE_SPEC)
    garbage_obs = Observation(image=observation.image, depth=None, camera=observation.camera,
                              state="garbage", inventory=observation.inventory)
    spy2 = _Spy()
    second = GuidancePipeline(_Replay(first.plan, recorded), _Replay(first.plan, recorded), spy2,
                              config).run(garbage_task, garbage_obs)
    assert [v for _, v in spy2.seen] == [v for _, v in spy.seen]
    assert all(_same_requests(a, b) for (a, _), (b, _) in zip(spy.seen, spy2.seen))
    assert second.critic_rejections == first.critic_rejections


class _NoPrivilege(gym.Wrapper):
    """Hides env.unwrapped and replaces the privileged task in every info with garbage."""

    @property
    def unwrapped(self):
        raise AssertionError("the executor reached for env.unwrapped")

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "task": Task("garbage", "stack", GARBAGE_SPEC)}


@pytest.mark.parametrize("family,seed", [("stack", 6160), ("sort", 6161)])
def test_executor_behaves_identically_without_privilege(monkeypatch, family, seed):
    generator = SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))
    outcomes = []
    for scrambled in (False, True):
        env = gym.make(env_id(family))
        try:
            obs, info = env.reset(seed=seed)
            base = env.unwrapped
            subgoal = goal_of(info["task"].spec)[0]
            text = describe_subgoal(subgoal, base.scene_spec)
            image = generator.generate(GenerationRequest(text, seed, obs["rgb"], base.snapshot())).image
            if scrambled:
                with monkeypatch.context() as patch:
                    for name in ("observation", "snapshot"):
                        patch.setattr(TabletopEnv, name, lambda self: (_ for _ in ()).throw(
                            AssertionError("the executor read privileged simulator state")))
                    info = {**info, "task": Task("garbage", "stack", GARBAGE_SPEC)}
                    result = SubgoalExecutor().execute(_NoPrivilege(env), image, text, obs, info)
            else:
                result = SubgoalExecutor().execute(env, image, text, obs, info)
            outcomes.append((result.success, result.reason, result.moved_object, result.target_xyz,
                             result.env_steps, base.state().positions))
        finally:
            env.close()
    generator.close()
    assert outcomes[0][0], outcomes[0][1]
    assert outcomes[0] == outcomes[1]

"""Meta-World adapter: phase subgoal images from the guidance loop, Meta-World's experts acting.

Fast: reach-v3 (one phase), one episode, plus the pieces. Slow: every supported task."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("metaworld")

from interleave_robot.errors import BackendError, ConfigError  # noqa: E402
from interleave_robot.types import GenerationRequest, Observation, Task  # noqa: E402
from interleave_robot.sim_envs.metaworld_adapter import (PHASES, TASK_NAMES, MetaWorldPhasePlanner,  # noqa: E402
                                                         MetaWorldSnapshot, check_task)
from interleave_robot.sim_envs.metaworld_runner import MetaWorldRunConfig, MetaWorldRunner  # noqa: E402


@pytest.fixture(scope="module")
def runner():
    r = MetaWorldRunner(MetaWorldRunConfig())
    yield r
    r.close()


def test_reach_guided_run_matches_every_phase_and_succeeds(runner):
    result = runner.run("reach-v3", 0)
    assert result.expert_success and result.guided_success
    assert result.phases == len(PHASES["reach-v3"]) == result.generator_calls
    assert result.phases_matched == result.phases
    assert all(e < runner.config.match_threshold for e in result.phase_errors)
    assert 0 < result.guided_steps <= 500


def test_phase_generator_replays_the_expert_to_the_phase_end(runner):
    generator = runner.generator
    env = runner._env("reach-v3")
    env.reset(1)
    source = MetaWorldSnapshot("reach-v3", 1, 0)
    start = env.render()
    result = generator.generate(GenerationRequest(prompt=PHASES["reach-v3"][0].instruction, seed=0,
                                                  source_image=start, source_state=source))
    assert result.metadata["fault"] == "none" and result.state.steps > 0
    assert result.image.shape == start.shape and np.abs(result.image.astype(int) - start).mean() > 0.5
    # Deterministic: the real env following the expert for as many steps shows the same frame.
    while env.steps < result.state.steps:
        env.expert_step()
    assert np.array_equal(env.render(), result.image)
    assert env.success
    # An instruction that is no phase of the task: the source image back, recorded as such.
    ignored = generator.generate(GenerationRequest(prompt="juggle", seed=0, source_image=start, source_state=source))
    assert ignored.metadata["fault"] == "unparsed" and ignored.image is start
    with pytest.raises(BackendError, match="MetaWorldSnapshot"):
        generator.generate(GenerationRequest(prompt="x", seed=0, source_image=start, source_state=None))


def test_corner_camera_is_flipped_upright(runner):
    env = runner._env("reach-v3")
    env.reset(0)
    image = env.render()
    # Upright, the grey floor fills the bottom rows and the table/robot the upper ones: the
    # bottom band is less saturated than the top band once flipped.
    sat = image.max(axis=-1).astype(int) - image.min(axis=-1)
    assert sat[-16:].mean() < sat[:64].mean()


def test_planner_writes_one_step_per_phase():
    task = Task("pick and place", spec={"metaworld_task": "pick-place-v3"})
    plan = MetaWorldPhasePlanner().plan(task, Observation(image=np.zeros((8, 8, 3), np.uint8)))
    assert [s.instruction for s in plan.steps] == [p.instruction for p in PHASES["pick-place-v3"]]
    assert plan.metadata["privileged"] is True
    with pytest.raises(ConfigError, match="metaworld_task"):
        MetaWorldPhasePlanner().plan(Task("x"), Observation(image=np.zeros((8, 8, 3), np.uint8)))


def test_bad_names_and_options_are_typed_errors():
    with pytest.raises(ConfigError, match="unknown Meta-World task 'fly-v3'"):
        check_task("fly-v3")
    with pytest.raises(ConfigError, match="action_noise"):
        MetaWorldRunConfig(action_noise=-1)
    assert len(TASK_NAMES) >= 5


def test_snapshot_round_trip():
    snap = MetaWorldSnapshot("push-v3", 3, 41)
    assert MetaWorldSnapshot.from_dict(snap.to_dict()) == snap


@pytest.mark.slow
@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_guided_beside_expert(runner, name):
    results = [runner.run(name, episode) for episode in range(3)]
    assert sum(r.expert_success for r in results) >= 2
    assert sum(r.guided_success for r in results) >= sum(r.expert_success for r in results)
    assert sum(r.phases_matched for r in results) >= 0.8 * sum(r.phases for r in results)


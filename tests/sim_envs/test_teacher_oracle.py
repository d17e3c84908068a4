"""Teacher + fault-free generator + executor solve every family (the harness is sound).

The fast test runs a few seeds per family; the slow one runs 40 and asks for >= 95%.
"""
import pytest

from interleave_robot.sim_envs.episode import EpisodeConfig
from interleave_robot.sim_envs.scene import SimSnapshot
from interleave_robot.sim_envs.tasks import FAMILIES, goal_of, goal_satisfied
from interleave_robot.sim_envs.teacher import teacher_subgoal_states

from .conftest import sample


@pytest.mark.parametrize("family", FAMILIES)
def test_teacher_subgoal_states_reach_the_goal_step_by_step(family):
    from interleave_robot.sim_envs.placement import relation_holds
    from interleave_robot.sim_envs.scene import SceneSpec

    for seed in range(50):
        task, state = sample(family, seed)
        spec = SceneSpec.from_dict(task.spec["scene"])
        goal = goal_of(task.spec)
        states = teacher_subgoal_states(task, SimSnapshot(spec, state))
        for k, snap in enumerate(states):
            assert all(relation_holds(spec, snap.state, g) for g in goal[:k + 1])
        assert goal_satisfied(spec, states[-1].state, goal)


def _oracle_rate(runner, family, seeds):
    results = [runner.run(EpisodeConfig(family=family, seed=s, fault_rate=0.0, use_critic=False)) for s in seeds]
    failures = [(r.seed, r.failure) for r in results if not r.success]
    return 1 - len(failures) / len(results), failures


@pytest.mark.parametrize("family", FAMILIES)
def test_oracle_generator_and_executor_solve_the_family(runner, family):
    rate, failures = _oracle_rate(runner, family, range(3))
    assert rate == 1.0, failures


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_oracle_success_at_least_95_percent(runner, family):
    rate, failures = _oracle_rate(runner, family, range(100, 140))
    assert rate >= 0.95, failures

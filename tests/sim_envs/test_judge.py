"""The privileged simulation judge: right on correct subgoal images (also through editor realism and
misregistration), wrong on gross faults; scored against the teacher's goal scene."""
from __future__ import annotations

import numpy as np
import pytest

from interleave_robot.sim_envs import perception
from interleave_robot.sim_envs.judge import SimulationJudge, compare
from interleave_robot.sim_envs.scene import SimSnapshot
from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator
from interleave_robot.sim_envs.tasks import goal_of
from interleave_robot.types import GenerationRequest

from .conftest import sample

SEEDS = range(7100, 7106)  # not the benchmark's seeds


@pytest.fixture(scope="module")
def judge():
    j = SimulationJudge()
    yield j
    j.close()


def _generate(fault: str | None, seed: int, family="stack", realism=0.0):
    task, state = sample(family, seed, steps=2)
    weights = {fault: 1.0} if fault else None
    gen = SimulatedGenerator(SimGeneratorConfig(fault_rate=1.0 if fault else 0.0, realism=realism,
                                                **({"fault_weights": weights} if weights else {}),
                                                subtle_fraction=0.0))
    try:
        from interleave_robot.sim_envs.scene import SceneSpec

        spec = SceneSpec.from_dict(task.spec["scene"])
        subgoal = goal_of(task.spec)[0]
        from interleave_robot.sim_envs.language import describe_subgoal

        out = gen.generate(GenerationRequest(prompt=describe_subgoal(subgoal, spec), seed=seed,
                                             source_state=SimSnapshot(spec, state)))
    finally:
        gen.close()
    return out, spec, state, subgoal


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("realism", [0.0, 1.0])
def test_correct_images_are_right(judge, seed, realism):
    out, spec, state, subgoal = _generate(None, seed, realism=realism)
    assert out.metadata["fault"] == "none"
    verdict = judge.score(out.image, spec, state, subgoal)
    assert verdict.right, verdict.reason


@pytest.mark.parametrize("fault", ["wrong_object", "wrong_place", "no_op", "duplicate", "artifact"])
def test_gross_faults_are_wrong(judge, fault):
    wrong = 0
    for seed in SEEDS:
        out, spec, state, subgoal = _generate(fault, seed)
        if out.metadata["fault"] != fault:  # the fault model may fall back when a fault is impossible
            continue
        wrong += not judge.score(out.image, spec, state, subgoal).right
    assert wrong >= 5, f"{fault}: only {wrong} of {len(SEEDS)} judged wrong"


def test_misregistration_is_not_a_scene_change(judge):
    out, spec, state, subgoal = _generate(None, SEEDS[0])
    goal = judge.goal_image(spec, state, subgoal)
    shifted = np.roll(out.image, (2, -3), axis=(0, 1))
    assert perception.register(goal, shifted) == (-3, 2)
    assert compare(shifted, goal, spec, judge.config).right
    assert not judge.score(out.image[:64, :64], spec, state, subgoal).right  # wrong size: wrong, with the reason

"""A task message's optional seed: parsed and bounded, and the run seed of that task (pipeline
and planner), as `demo` seeds an episode; a task without one keeps the node's seeds."""
import json

import numpy as np
import pytest

from interleave_robot.backends.scripted import (AlwaysCritic, AlwaysCriticConfig, EchoGenerator, EchoGeneratorConfig,
                                                StaticPlanner, StaticPlannerConfig)
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.ros_nodes.context import MessageError, parse_task, task_message
from interleave_robot.ros_nodes.guidance_logic import seeded_pipeline
from interleave_robot.sim_envs.teacher import TeacherConfig, TeacherPlanner
from interleave_robot.types import Observation, Task


def test_task_message_round_trips_the_seed_and_leaves_it_out_when_none():
    task = Task(text="stack", family="stack", spec={"goal": []})
    assert parse_task(task_message(task, "t1", 7)) == (task, "t1", 7)
    assert "seed" not in json.loads(task_message(task, "t1"))
    assert parse_task(task_message(task, "t1")) == (task, "t1", None)
    assert parse_task("stack the blocks").seed is None


@pytest.mark.parametrize("seed", [-1, True, "3", 1.5, 2**63])
def test_a_bad_task_seed_is_a_message_error(seed):
    with pytest.raises(MessageError, match="\"seed\" must be an integer"):
        parse_task(json.dumps({"text": "stack", "seed": seed}))


def _pipeline(planner):
    return GuidancePipeline(planner, EchoGenerator(EchoGeneratorConfig()), AlwaysCritic(AlwaysCriticConfig()),
                            PipelineConfig(max_attempts_per_step=2, seed=0, max_replans=1))


def test_seeded_pipeline_sets_the_run_and_teacher_seeds_and_keeps_the_original():
    teacher = TeacherPlanner(TeacherConfig(prompt_style="natural", seed=0, from_current_state=True))
    pipeline = _pipeline(teacher)
    assert seeded_pipeline(pipeline, None) is pipeline  # no seed: the node's pipeline as configured
    run = seeded_pipeline(pipeline, 5)
    assert run.config == PipelineConfig(max_attempts_per_step=2, seed=5, max_replans=1)
    assert run.planner.config == TeacherConfig(prompt_style="natural", seed=5, from_current_state=True)
    assert (run.generator, run.critic) == (pipeline.generator, pipeline.critic)  # shared, not rebuilt
    assert pipeline.config.seed == 0 and teacher.config.seed == 0 and pipeline.planner is teacher


def test_seeded_pipeline_keeps_a_planner_without_a_seed_and_seeds_the_generator_calls():
    static = StaticPlanner(StaticPlannerConfig(steps=["pick up the red block"]))
    pipeline = _pipeline(static)
    run = seeded_pipeline(pipeline, 9)
    assert run.planner is static and run.config.seed == 9
    observation = Observation(image=np.zeros((16, 16, 3), np.uint8))
    want = GuidancePipeline(static, pipeline.generator, pipeline.critic,
                            PipelineConfig(max_attempts_per_step=2, seed=9, max_replans=1)).run("pick", observation)
    got, default = run.run("pick", observation), pipeline.run("pick", observation)
    np.testing.assert_array_equal(got.steps[0].accepted.image, want.steps[0].accepted.image)
    # The echo generator's band depends on the request seed: seed 9 differs from the node's seed 0.
    assert not np.array_equal(got.steps[0].accepted.image, default.steps[0].accepted.image)

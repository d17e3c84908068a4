"""Task families: layouts, goals, phrasings, predicates; the language the tasks are spoken in."""
import numpy as np
import pytest

from interleave_robot.sim_envs.language import (PromptParseError, Subgoal, describe_subgoal, natural_phrases,
                                                parse_instruction)
from interleave_robot.sim_envs.placement import relation_holds
from interleave_robot.sim_envs.scene import ObjectSpec, SceneSpec, SceneState, SimSnapshot
from interleave_robot.sim_envs.tasks import (FAMILIES, MAX_STEPS, MIN_BLOCK_DISTANCE, goal_of, goal_satisfied,
                                             sample_task)
from interleave_robot.sim_envs.teacher import TeacherPlanner, teacher_subgoal_states
from interleave_robot.types import Observation

from .conftest import sample

SEEDS = range(40)


@pytest.mark.parametrize("family", FAMILIES)
def test_layouts_goals_and_phrasings(family):
    texts, steps = set(), set()
    for seed in SEEDS:
        task, state = sample(family, seed)
        spec = SceneSpec.from_dict(task.spec["scene"])
        goal = goal_of(task.spec)
        steps.add(len(goal))
        texts.add(task.text.split(":")[0].split(" ")[0])
        assert 1 <= len(goal) <= MAX_STEPS[family] and task.family == family
        blocks = [np.array(state.positions[b.name][:2]) for b in spec.blocks]
        dists = [np.linalg.norm(a - b) for i, a in enumerate(blocks) for b in blocks[i + 1:]]
        assert min(dists) >= MIN_BLOCK_DISTANCE - 1e-9  # non-overlapping, room for the open fingers
        assert not goal_satisfied(spec, state, goal)  # there is work to do
        final = teacher_subgoal_states(task, SimSnapshot(spec, state))[-1]
        assert goal_satisfied(spec, final.state, goal)  # the teacher's subgoal states reach the goal
    assert len(texts) >= 2, f"{family}: one phrasing only: {texts}"
    assert len(steps) >= 2, f"{family}: steps not randomised: {steps}"


@pytest.mark.parametrize("family", FAMILIES)
def test_every_step_count_up_to_the_family_maximum(family):
    for k in range(1, MAX_STEPS[family] + 1):
        task, _ = sample(family, k, steps=k)
        assert len(task.spec["goal"]) == k
    with pytest.raises(ValueError, match="at most"):
        sample(family, 0, steps=MAX_STEPS[family] + 1)


def test_unknown_family_and_colour_name_the_known_ones():
    with pytest.raises(ValueError, match="known: stack, sort, line, pick_place"):
        sample_task("juggle", np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown colour 'pink'; known: red"):
        sample("stack", 0, colors=["pink", "red", "blue"])


def test_teacher_plan_is_natural_and_parses_to_the_goal():
    for family in FAMILIES:
        task, state = sample(family, 5)
        spec = SceneSpec.from_dict(task.spec["scene"])
        plan = TeacherPlanner().plan(task, Observation(np.zeros((8, 8, 3), np.uint8), state=SimSnapshot(spec, state)))
        for step, goal in zip(plan.steps, goal_of(task.spec)):
            parsed = parse_instruction(step.prompt, spec)
            assert (parsed.obj, parsed.relation, parsed.reference) == (goal.obj, goal.relation, goal.reference)
            assert parsed.explicitness < 1.0  # natural on purpose: refinement has room to help
        assert plan.metadata["privileged"] is True


def test_relation_predicates_on_physics_states():
    spec = SceneSpec([ObjectSpec("a", "block", "red"), ObjectSpec("b", "block", "blue"),
                      ObjectSpec("c", "block", "green"), ObjectSpec("t", "bin", "yellow")])
    s = SceneState({"a": [0.0, 0.0, 0.02], "b": [0.0, 0.0, 0.06], "c": [0.07, 0.0, 0.02], "t": [-0.15, 0.0, 0.0]})
    assert relation_holds(spec, s, Subgoal("b", "on", ["a"]))
    assert not relation_holds(spec, s, Subgoal("a", "on", ["b"]))
    assert relation_holds(spec, s, Subgoal("c", "right_of", ["a"]))
    assert not relation_holds(spec, s, Subgoal("c", "left_of", ["a"]))
    assert relation_holds(spec, s, Subgoal("a", "left_of", ["c"]))
    assert not relation_holds(spec, s, Subgoal("c", "in", ["t"]))
    s.positions["c"] = [-0.17, 0.02, 0.022]
    assert relation_holds(spec, s, Subgoal("c", "in", ["t"]))
    s.positions["c"] = [-0.075, 0.0, 0.02]
    assert relation_holds(spec, s, Subgoal("c", "between", ["t", "a"]))


def test_language_round_trip_and_explicitness():
    spec = SceneSpec([ObjectSpec("r", "block", "red"), ObjectSpec("g", "block", "green", "cylinder"),
                      ObjectSpec("b", "block", "blue"), ObjectSpec("rb", "bin", "red")])
    for sg in (Subgoal("r", "on", ["b"]), Subgoal("r", "in", ["rb"]), Subgoal("g", "left_of", ["r"]),
               Subgoal("g", "right_of", ["b"]), Subgoal("b", "next_to", ["g"]), Subgoal("g", "between", ["r", "b"])):
        explicit = parse_instruction(describe_subgoal(sg, spec), spec)
        assert explicit.to_dict() == {**sg.to_dict(), "explicitness": 1.0}
        for text in natural_phrases(sg, spec):
            parsed = parse_instruction(text, spec)
            assert (parsed.obj, parsed.relation, parsed.reference) == (sg.obj, sg.relation, sg.reference), text
            assert parsed.explicitness < 1.0, text


@pytest.mark.parametrize("text, match", [
    ("", "empty"), ("make it nice", "no object"), ("put the pink block on the blue block", "unknown colour 'pink'"),
    ("put the red block somewhere", "no spatial relation"), ("put the orange block on the red one", "no orange"),
    ("put the red bin on the blue block", "cannot be moved"), ("put the red block on the red block", "itself"),
    ("x" * 3000, "bound"),
])
def test_unparseable_prompts_raise_with_the_reason(text, match):
    spec = SceneSpec([ObjectSpec("r", "block", "red"), ObjectSpec("b", "block", "blue"), ObjectSpec("rb", "bin", "red")])
    with pytest.raises(PromptParseError, match=match):
        parse_instruction(text, spec)

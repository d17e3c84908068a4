"""The relation table: every relation is one entry, read by the parser, the geometry, the task
sampler and the teacher; a new relation added to the table works everywhere at once."""
import numpy as np
import pytest

from interleave_robot.sim_envs import relations
from interleave_robot.sim_envs.language import Subgoal, describe_subgoal, natural_phrases, parse_instruction
from interleave_robot.sim_envs.placement import apply_subgoal, relation_holds
from interleave_robot.sim_envs.relations import RELATIONS, Relation, relation
from interleave_robot.sim_envs.scene import BLOCK_HALF, ObjectSpec, SceneSpec, SceneState
from interleave_robot.sim_envs.workspace import xy_of

SPEC = SceneSpec([ObjectSpec("r", "block", "red"), ObjectSpec("g", "block", "green"),
                  ObjectSpec("b", "block", "blue"), ObjectSpec("t", "bin", "yellow")])
STATE = SceneState({"r": [-0.1, 0.0, 0.02], "g": [0.1, 0.0, 0.02], "b": [0.0, 0.1, 0.02], "t": [0.0, -0.1, 0.0]},
                   {n: [1.0, 0.0, 0.0, 0.0] for n in "rgbt"})


def _subgoal(rel: Relation) -> Subgoal:
    refs = ["t"] if rel.reference_kind == "bin" else ["r", "g"][:rel.references]
    return Subgoal("b", rel.name, refs)


@pytest.mark.parametrize("name", list(RELATIONS))
def test_every_relation_is_complete(name):
    rel = relation(name)
    assert rel.name == name and rel.step_name and rel.explicit_text and rel.keywords
    subgoal = _subgoal(rel)
    # Its target satisfies it, its explicit wording parses back to it, every natural one too.
    assert relation_holds(SPEC, apply_subgoal(SPEC, STATE, subgoal), subgoal)
    assert not relation_holds(SPEC, STATE, subgoal)
    parsed = parse_instruction(describe_subgoal(subgoal, SPEC), SPEC)
    assert parsed.to_dict() == {**subgoal.to_dict(), "explicitness": 1.0}
    for text in natural_phrases(subgoal, SPEC):
        again = parse_instruction(text, SPEC)
        assert (again.relation, again.reference) == (subgoal.relation, subgoal.reference), text


def test_unknown_relation_names_the_known_ones():
    with pytest.raises(ValueError, match="known: on, in, left_of"):
        relation("under")
    with pytest.raises(ValueError, match="unknown relation 'under'"):
        Subgoal("b", "under", ["r"])


class _Behind(Relation):
    """A relation the project does not have: farther from the camera (+y) than the reference."""

    name, step_name, explicit_text = "behind", "Place behind", "behind"
    keywords = {("behind",): True, ("back", "of"): False}

    def target(self, spec, state, obj, refs):
        x, y = xy_of(state, refs[0])
        return [float(x), float(y) + 0.08, BLOCK_HALF]

    def holds(self, spec, state, obj, refs):
        d = xy_of(state, obj) - xy_of(state, refs[0])
        return bool(abs(d[0]) < 0.03 and 0.05 < d[1] < 0.12)

    def natural(self, o, refs):
        return [f"Put the {o.color} one at the back of the {refs[0].color} one."]


def test_a_new_relation_is_one_table_entry(monkeypatch):
    monkeypatch.setitem(RELATIONS, "behind", _Behind())
    subgoal = Subgoal("b", "behind", ["r"])
    text = describe_subgoal(subgoal, SPEC)
    assert text == "Move the blue block so that it is behind the red block. Keep every other object where it is."
    assert parse_instruction(text, SPEC).to_dict() == {**subgoal.to_dict(), "explicitness": 1.0}
    natural = parse_instruction(natural_phrases(subgoal, SPEC)[0], SPEC)
    assert natural.relation == "behind" and natural.explicitness < 1.0
    assert relation_holds(SPEC, apply_subgoal(SPEC, STATE, subgoal), subgoal)
    from interleave_robot.sim_envs.teacher import TeacherPlanner
    from interleave_robot.types import Task

    task = Task("put blue behind red", "pick_place", {"goal": [subgoal.to_dict()], "scene": SPEC.to_dict()})
    assert TeacherPlanner().plan(task, None).steps[0].step_name == "Place behind the blue block"
    assert relations.RELATIONS is RELATIONS


def test_in_with_a_block_reference_means_on():
    assert parse_instruction("put the blue one in the red one", SPEC).relation == "on"
    assert np.allclose(apply_subgoal(SPEC, STATE, Subgoal("b", "on", ["t"])).positions["b"][:2],
                       apply_subgoal(SPEC, STATE, Subgoal("b", "in", ["t"])).positions["b"][:2])

"""Where a subgoal puts its object, and whether a relation holds: one geometry for all.

The teacher's ground-truth subgoal states, the simulated generator's images and the task
predicates all use these functions, so "on", "left of", "between" mean the same everywhere.
The geometry of each relation lives in the relation table (relations.py); free-space helpers
in workspace.py.
"""
from __future__ import annotations

from interleave_robot.sim_envs.language import Subgoal
from interleave_robot.sim_envs.relations import RELATIONS
from interleave_robot.sim_envs.scene import SceneSpec, SceneState

_IDENTITY = [1.0, 0.0, 0.0, 0.0]


def target_position(spec: SceneSpec, state: SceneState, subgoal: Subgoal) -> list[float]:
    """The position that satisfies `subgoal` from `state` (the object's current place ignored)."""
    return RELATIONS[subgoal.relation].target(spec, state, subgoal.obj, subgoal.reference)


def apply_subgoal(spec: SceneSpec, state: SceneState, subgoal: Subgoal) -> SceneState:
    """A copy of `state` with the subgoal's object moved to its target (upright, unsettled)."""
    new = state.copy()
    new.positions[subgoal.obj] = [float(v) for v in target_position(spec, state, subgoal)]
    new.quaternions[subgoal.obj] = list(_IDENTITY)
    return new


def relation_holds(spec: SceneSpec, state: SceneState, subgoal: Subgoal) -> bool:
    """Whether the subgoal's relation holds in a (settled) physics state."""
    return RELATIONS[subgoal.relation].holds(spec, state, subgoal.obj, subgoal.reference)

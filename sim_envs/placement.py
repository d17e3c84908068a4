"""Where a subgoal puts its object, and whether a relation holds: one geometry for all.

The teacher's ground-truth subgoal states, the simulated generator's images and the task
predicates all use these functions, so "on", "left of", "between" mean the same everywhere.
Left/right are as the front camera sees them (world -x is image left).
"""
from __future__ import annotations

import math

import numpy as np

from interleave_robot.sim_envs.language import Subgoal
from interleave_robot.sim_envs.scene import BIN_HALF, BLOCK_HALF, FINGER_OFFSET, FINGER_THICK, TABLE_HALF, WORKSPACE, SceneSpec, SceneState

SPACING = 0.07  # centre distance of side-by-side blocks (3 cm gap: room for finger tips in x)
ON_XY_TOL = 0.022  # a block is "on" another when centred within this (half a block)
SIDE_RANGE = (0.045, 0.12)  # centre distance along x for left_of / right_of / next_to
SIDE_Y_TOL = 0.035
BETWEEN_TOL = 0.03
ON_TABLE_Z = BLOCK_HALF + 0.01
MIN_FREE = 0.06  # a spot is free when no block centre is closer than this (xy)
# A block this close to a bin (centre to bin centre, per axis) could not be grasped: the open
# fingers (along y) or the finger width (along x) would land on the bin's wall.
BIN_CLEAR_X = BIN_HALF + BLOCK_HALF + 0.015
BIN_CLEAR_Y = BIN_HALF + FINGER_OFFSET + FINGER_THICK + 0.01
_IDENTITY = [1.0, 0.0, 0.0, 0.0]


def _xy(state: SceneState, name: str) -> np.ndarray:
    return np.asarray(state.positions[name][:2], dtype=float)


def _z(state: SceneState, name: str) -> float:
    return float(state.positions[name][2])


def on_table_area(x: float, y: float, margin: float = BLOCK_HALF) -> bool:
    return abs(x) <= TABLE_HALF[0] - margin and abs(y) <= TABLE_HALF[1] - margin


def in_workspace(x: float, y: float) -> bool:
    (x0, x1), (y0, y1) = WORKSPACE
    return x0 <= x <= x1 and y0 <= y <= y1


def is_free(spec: SceneSpec, state: SceneState, xy, ignore: tuple[str, ...] = (), radius: float = MIN_FREE) -> bool:
    """No block (other than `ignore`) and no bin footprint near xy."""
    xy = np.asarray(xy, dtype=float)
    for obj in spec.objects:
        if obj.name in ignore or obj.name not in state.positions:
            continue
        d = np.abs(_xy(state, obj.name) - xy)
        if obj.kind == "bin":
            if d[0] < BIN_CLEAR_X and d[1] < BIN_CLEAR_Y:
                return False
        elif math.hypot(*d) < radius:
            return False
    return True


def _bin_slot(spec: SceneSpec, state: SceneState, bin_name: str, moving: str) -> list[float]:
    """The bin's centre (the open fingers clear the walls only there), else a free quadrant."""
    cx, cy = _xy(state, bin_name)
    off = BIN_HALF / 2 - 0.002
    for dx, dy in ((0.0, 0.0), (-off, -off), (off, -off), (-off, off), (off, off)):
        if is_free(spec, state, (cx + dx, cy + dy), ignore=(moving, bin_name), radius=2 * BLOCK_HALF):
            return [cx + dx, cy + dy, BLOCK_HALF + 0.002]
    return [cx, cy, BLOCK_HALF + 0.002]


def target_position(spec: SceneSpec, state: SceneState, subgoal: Subgoal) -> list[float]:
    """The position that satisfies `subgoal` from `state` (the object's current place ignored)."""
    ref = subgoal.reference
    if subgoal.relation == "in" or (subgoal.relation == "on" and spec.get(ref[0]).kind == "bin"):
        return _bin_slot(spec, state, ref[0], subgoal.obj)
    rx, ry = _xy(state, ref[0])
    if subgoal.relation == "on":
        return [rx, ry, _z(state, ref[0]) + 2 * BLOCK_HALF]
    if subgoal.relation == "between":
        mx, my = (_xy(state, ref[0]) + _xy(state, ref[1])) / 2
        return [float(mx), float(my), BLOCK_HALF]
    sides = {"left_of": (-1,), "right_of": (1,), "next_to": (1, -1)}[subgoal.relation]
    for sign in sides:
        x = rx + sign * SPACING
        if on_table_area(x, ry) and is_free(spec, state, (x, ry), ignore=(subgoal.obj, ref[0])):
            return [x, ry, BLOCK_HALF]
    return [rx + sides[0] * SPACING, ry, BLOCK_HALF]


def apply_subgoal(spec: SceneSpec, state: SceneState, subgoal: Subgoal) -> SceneState:
    """A copy of `state` with the subgoal's object moved to its target (upright, unsettled)."""
    new = state.copy()
    new.positions[subgoal.obj] = [float(v) for v in target_position(spec, state, subgoal)]
    new.quaternions[subgoal.obj] = list(_IDENTITY)
    return new


def relation_holds(spec: SceneSpec, state: SceneState, subgoal: Subgoal) -> bool:
    """Whether the subgoal's relation holds in a (settled) physics state."""
    obj, ref = subgoal.obj, subgoal.reference
    o = _xy(state, obj)
    oz = _z(state, obj)
    if subgoal.relation == "in" or (subgoal.relation == "on" and spec.get(ref[0]).kind == "bin"):
        d = np.abs(o - _xy(state, ref[0]))
        return bool(d[0] < BIN_HALF and d[1] < BIN_HALF and oz < BLOCK_HALF + 0.015)
    r = _xy(state, ref[0])
    if subgoal.relation == "on":
        dz = oz - _z(state, ref[0])
        return bool(np.hypot(*(o - r)) < ON_XY_TOL and abs(dz - 2 * BLOCK_HALF) < 0.012)
    if oz > ON_TABLE_Z:
        return False
    if subgoal.relation == "between":
        a, b = r, _xy(state, ref[1])
        ab = b - a
        t = float(np.dot(o - a, ab) / max(np.dot(ab, ab), 1e-9))
        perp = float(np.linalg.norm(o - (a + t * ab)))
        return 0.3 < t < 0.7 and perp < BETWEEN_TOL
    dx, dy = o - r
    lo, hi = SIDE_RANGE
    if abs(dy) > SIDE_Y_TOL:
        return False
    if subgoal.relation == "left_of":
        return bool(lo <= -dx <= hi)
    if subgoal.relation == "right_of":
        return bool(lo <= dx <= hi)
    return bool(lo <= abs(dx) <= hi)


def random_free_spot(spec: SceneSpec, state: SceneState, rng: np.random.Generator,
                     ignore: tuple[str, ...] = (), tries: int = 200) -> list[float] | None:
    """A random free table spot inside the workspace (None if the workspace is full)."""
    (x0, x1), (y0, y1) = WORKSPACE
    for _ in range(tries):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if is_free(spec, state, (x, y), ignore=ignore, radius=MIN_FREE + 0.01):
            return [float(x), float(y), BLOCK_HALF]
    return None

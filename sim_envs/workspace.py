"""Free space on the table: where a block may go without touching another or a bin's wall.

A leaf module (scene constants only) shared by the relation table (relations.py), the task
sampler (tasks.py) and the fault model (faults.py).
"""
from __future__ import annotations

import math

import numpy as np

from interleave_robot.sim_envs.scene import BIN_HALF, BLOCK_HALF, FINGER_OFFSET, FINGER_THICK, TABLE_HALF, WORKSPACE, SceneSpec, SceneState

SPACING = 0.07  # centre distance of side-by-side blocks (3 cm gap: room for finger tips in x)
MIN_FREE = 0.06  # a spot is free when no block centre is closer than this (xy)
# A block this close to a bin (centre to bin centre, per axis) could not be grasped: the open
# fingers (along y) or the finger width (along x) would land on the bin's wall.
BIN_CLEAR_X = BIN_HALF + BLOCK_HALF + 0.015
BIN_CLEAR_Y = BIN_HALF + FINGER_OFFSET + FINGER_THICK + 0.01


def xy_of(state: SceneState, name: str) -> np.ndarray:
    """An object's (x, y) as a float array."""
    return np.asarray(state.positions[name][:2], dtype=float)


def z_of(state: SceneState, name: str) -> float:
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
        d = np.abs(xy_of(state, obj.name) - xy)
        if obj.kind == "bin":
            if d[0] < BIN_CLEAR_X and d[1] < BIN_CLEAR_Y:
                return False
        elif math.hypot(*d) < radius:
            return False
    return True


def bin_slot(spec: SceneSpec, state: SceneState, bin_name: str, moving: str) -> list[float]:
    """The bin's centre (the open fingers clear the walls only there), else a free quadrant."""
    cx, cy = xy_of(state, bin_name)
    off = BIN_HALF / 2 - 0.002
    for dx, dy in ((0.0, 0.0), (-off, -off), (off, -off), (-off, off), (off, off)):
        if is_free(spec, state, (cx + dx, cy + dy), ignore=(moving, bin_name), radius=2 * BLOCK_HALF):
            return [cx + dx, cy + dy, BLOCK_HALF + 0.002]
    return [cx, cy, BLOCK_HALF + 0.002]


def random_free_spot(spec: SceneSpec, state: SceneState, rng: np.random.Generator,
                     ignore: tuple[str, ...] = (), tries: int = 200) -> list[float] | None:
    """A random free table spot inside the workspace (None if the workspace is full)."""
    (x0, x1), (y0, y1) = WORKSPACE
    for _ in range(tries):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if is_free(spec, state, (x, y), ignore=ignore, radius=MIN_FREE + 0.01):
            return [float(x), float(y), BLOCK_HALF]
    return None

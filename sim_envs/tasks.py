"""Task families: stack, sort, line, pick_place.

A task is a scene (SceneSpec), a randomised non-overlapping initial layout, an ordered goal
(one Subgoal relation per step, 1-5 steps) and a sentence saying it in one of several
phrasings. `Task.spec` holds the structured goal for the privileged teacher:
  {"family", "goal": [Subgoal.to_dict()...], "scene": SceneSpec.to_dict(),
   "initial_state": SceneState.to_dict(), "phrasing": int}
The goal predicate is `goal_satisfied`: every goal relation holds in the physics state.
Layouts are rejection-sampled until every step's target lies free and inside the workspace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interleave_robot.types import Task

from interleave_robot.sim_envs.language import Subgoal, natural_phrases
from interleave_robot.sim_envs.placement import apply_subgoal, relation_holds, target_position
from interleave_robot.sim_envs.relations import RELATIONS
from interleave_robot.sim_envs.scene import BIN_HALF, BLOCK_HALF, COLORS, WORKSPACE, ObjectSpec, SceneSpec, SceneState
from interleave_robot.sim_envs.workspace import SPACING, in_workspace, is_free

FAMILIES = ("stack", "sort", "line", "pick_place")
MAX_STEPS = {"stack": 4, "sort": 3, "line": 4, "pick_place": 2}  # what fits the workspace
MIN_BLOCK_DISTANCE = 0.095  # centre distance between blocks at reset: open fingers clear neighbours
_MAX_TRIES = 400


class TaskSampleError(ValueError):
    """No valid layout was found for the requested task options."""


@dataclass
class TaskOptions:
    """Optional overrides of a family's sampling: number of steps, block colours."""

    steps: int | None = None
    colors: list[str] | None = None
    image_size: int = 128

    def __post_init__(self):
        if self.steps is not None and not 1 <= self.steps <= 5:
            raise ValueError(f"steps must be in 1..5, got {self.steps}")
        for c in self.colors or []:
            if c not in COLORS:
                raise ValueError(f"unknown colour {c!r}; known: {', '.join(COLORS)}")
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be in 32..1024, got {self.image_size}")


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")
    return family


def goal_of(task_spec: dict) -> list[Subgoal]:
    return [Subgoal.from_dict(g) for g in task_spec["goal"]]


def goal_progress(spec: SceneSpec, state: SceneState, goal: list[Subgoal]) -> int:
    """How many of the goal relations hold."""
    return sum(relation_holds(spec, state, g) for g in goal)


def goal_satisfied(spec: SceneSpec, state: SceneState, goal: list[Subgoal]) -> bool:
    """The task predicate: every goal relation holds in the physics state."""
    return goal_progress(spec, state, goal) == len(goal)


def _colors(rng: np.random.Generator, n: int, given: list[str] | None) -> list[str]:
    if given:
        if len(given) < n:
            raise ValueError(f"this task needs {n} colours, got {len(given)}: {given}")
        return list(given[:n])
    return [str(c) for c in rng.choice(list(COLORS), size=n, replace=False)]


def _reserved_hit(x: float, y: float, reserved: list[tuple[float, float, float, float]]) -> bool:
    return any(a <= x <= b and c <= y <= d for a, b, c, d in reserved)


def _layout(spec: SceneSpec, rng: np.random.Generator, fixed: dict, reserved: list) -> SceneState | None:
    """Fixed objects first, then bins (they are big), then blocks, each at a random free spot
    inside the workspace and outside the reserved boxes (room a goal needs, e.g. a row)."""
    (x0, x1), (y0, y1) = WORKSPACE
    state = SceneState()
    for name, xy in fixed.items():
        state.positions[name] = [float(xy[0]), float(xy[1]), BLOCK_HALF]
        state.quaternions[name] = [1.0, 0.0, 0.0, 0.0]
    for obj in [o for o in spec.bins + spec.blocks if o.name not in fixed]:
        margin = BIN_HALF if obj.kind == "bin" else 0.0
        for _ in range(100):
            x, y = rng.uniform(x0 + margin, x1 - margin), rng.uniform(y0 + margin, y1 - margin)
            if _reserved_hit(x, y, reserved) and obj.kind == "block":
                continue
            if obj.kind == "bin" and any(_reserved_hit(x + dx, y + dy, reserved) for dx in (-BIN_HALF, BIN_HALF)
                                         for dy in (-BIN_HALF, BIN_HALF)):
                continue
            if is_free(spec, state, (x, y), radius=MIN_BLOCK_DISTANCE) and (
                    obj.kind == "block" or all(abs(x - state.positions[b.name][0]) > 2 * BIN_HALF + 0.03
                                               or abs(y - state.positions[b.name][1]) > 2 * BIN_HALF + 0.03
                                               for b in spec.bins if b.name in state.positions)):
                z = BLOCK_HALF if obj.kind == "block" else 0.0
                state.positions[obj.name] = [float(x), float(y), z]
                state.quaternions[obj.name] = [1.0, 0.0, 0.0, 0.0]
                break
        else:
            return None
    return state


def _valid(spec: SceneSpec, state: SceneState, goal: list[Subgoal]) -> bool:
    """Every step's target is inside the workspace and free; the final state meets the goal."""
    current = state
    for g in goal:
        x, y, _ = target_position(spec, current, g)
        if not in_workspace(x, y):
            return False
        relation = RELATIONS[g.relation]
        if relation.table_level and not is_free(spec, current, (x, y), ignore=(g.obj, *g.reference),
                                                radius=MIN_BLOCK_DISTANCE - 0.02):
            return False
        if not relation.layout_ok(current, g.reference):
            return False
        current = apply_subgoal(spec, current, g)
    return goal_satisfied(spec, current, goal)


def _stack(rng, opts):
    steps = opts.steps or int(rng.integers(2, 4))
    n_tower = steps + 1
    n_blocks = min(6, n_tower + int(rng.integers(0, 2)))
    colors = _colors(rng, n_blocks, opts.colors)
    objs = [ObjectSpec(f"block_{c}", "block", c) for c in colors]
    order = [o.name for o in objs[:n_tower]]
    goal = [Subgoal(order[i + 1], "on", [order[i]]) for i in range(steps)]
    return objs, goal, {}, []


def _sort(rng, opts):
    # One bin per block, colours distinct: every block is named by its colour alone, and colour
    # segmentation (executor, critic) never has to tell two same-coloured blocks apart.
    steps = opts.steps or int(rng.integers(2, 4))
    colors = _colors(rng, steps, opts.colors)
    bins = [ObjectSpec(f"bin_{c}", "bin", c) for c in colors]
    blocks = [ObjectSpec(f"block_{c}", "block", c) for c in colors]
    order = [int(i) for i in rng.permutation(steps)]
    goal = [Subgoal(blocks[i].name, "in", [bins[i].name]) for i in order]
    return blocks + bins, goal, {}, []


def _line(rng, opts):
    steps = opts.steps or int(rng.integers(2, 4))
    n = steps + 1
    colors = _colors(rng, n, opts.colors)
    objs = [ObjectSpec(f"block_{c}", "block", c) for c in colors]
    goal = [Subgoal(objs[i + 1].name, "right_of", [objs[i].name]) for i in range(steps)]
    # The anchor (leftmost) stays put: place it so the row fits, and keep the row's corridor clear.
    (x0, x1), (y0, y1) = WORKSPACE
    length = steps * SPACING
    ax, ay = rng.uniform(x0, x1 - length), rng.uniform(y0, y1)
    reserved = [(ax + 0.03, ax + length + 0.06, ay - 0.09, ay + 0.09)]
    return objs, goal, {objs[0].name: (ax, ay)}, reserved


def _pick_place(rng, opts):
    steps = opts.steps or int(rng.integers(1, 3))
    n_blocks = min(5, 2 + 2 * steps)
    with_bin = bool(rng.random() < 0.4)
    colors = _colors(rng, n_blocks + with_bin, opts.colors)
    shapes = ["cylinder" if rng.random() < 0.3 else "cube" for _ in range(n_blocks)]
    objs = [ObjectSpec(f"block_{c}", "block", c, s) for c, s in zip(colors[:n_blocks], shapes)]
    if with_bin:
        objs.append(ObjectSpec(f"bin_{colors[-1]}", "bin", colors[-1]))
    names = [o.name for o in objs if o.kind == "block"]
    used: set[str] = set()
    stacked: set[str] = set()
    goal = []
    fixed: dict = {}
    reserved: list = []
    # Relations to blocks first, then those to a bin (the table's order): the draw order is part of the seed's meaning.
    choices = [r for r in RELATIONS.values() if r.reference_kind == "block"]
    choices += [r for r in RELATIONS.values() if r.reference_kind == "bin"] if with_bin else []
    for _ in range(steps):
        relation = choices[int(rng.choice(len(choices)))]
        free = [n for n in names if n not in used]
        moved = str(rng.choice(free))
        # A block with another one on it, or one sitting on a block, is no reference for a later
        # step: "on" it would land on the block above, "next to" it would be at the wrong height.
        others = [n for n in names if n != moved and n not in stacked]
        if relation.reference_kind == "bin":
            refs = [objs[-1].name]
        else:
            refs = [str(r) for r in rng.choice(others, size=relation.references, replace=False)]
        used.update([moved, *refs])
        if relation.stacks:
            stacked.update([moved, *refs])
        goal.append(Subgoal(moved, relation.name, refs))
        if not set(refs) & set(fixed):
            layout = relation.fixed_layout(rng)
            if layout is not None:
                positions, box = layout
                fixed.update(dict(zip(refs, positions)))
                reserved.append(box)
        if len([n for n in names if n not in used]) == 0:
            break
    return objs, goal, fixed, reserved


_BUILDERS = {"stack": _stack, "sort": _sort, "line": _line, "pick_place": _pick_place}


def _describe_task(family: str, spec: SceneSpec, goal: list[Subgoal], phrasing: int) -> str:
    if family == "stack":
        order = [spec.get(goal[0].reference[0]).color] + [spec.get(g.obj).color for g in goal]
        middle = ", then ".join(order[1:-1])
        options = [
            f"Stack the blocks into a tower: {order[0]} at the bottom, "
            + (f"then {middle}, " if middle else "") + f"{order[-1]} on top.",
            f"Build a tower from bottom to top: {', '.join(order)}.",
            " Then p".join(f"ut the {spec.get(g.obj).color} block on the {spec.get(g.reference[0]).color} one."
                           for g in goal).join(("P", "")),
        ]
    elif family == "sort":
        options = ["Sort the blocks into the bins by colour.", "Put every block into the bin of its colour.",
                   "Tidy up: each block goes into the bin that matches its colour."]
    elif family == "line":
        order = [spec.get(goal[0].reference[0]).color] + [spec.get(g.obj).color for g in goal]
        options = [f"Line up the blocks from left to right: {', '.join(order)}.",
                   f"Make a row, left to right, starting at the {order[0]} block: {', '.join(order)}.",
                   f"Arrange {', '.join(order)} in a horizontal row in that order, keeping {order[0]} in place."]
    else:
        parts = [natural_phrases(g, spec)[0].rstrip(".") for g in goal]
        options = ["; then ".join(parts) + ".", "First " + ", and after that ".join(p[0].lower() + p[1:] for p in parts) + "."]
    return options[phrasing % len(options)]


def sample_task(family: str, rng: np.random.Generator, options: TaskOptions | None = None) -> tuple[Task, SceneState]:
    """A random task of `family` and its initial layout; ValueError for an unknown family."""
    check_family(family)
    opts = options or TaskOptions()
    if opts.steps is not None and opts.steps > MAX_STEPS[family]:
        raise ValueError(f"{family} tasks have at most {MAX_STEPS[family]} steps, got steps={opts.steps}")
    for _ in range(_MAX_TRIES):
        objs, goal, fixed, reserved = _BUILDERS[family](rng, opts)
        spec = SceneSpec(objs, opts.image_size, opts.image_size)
        state = _layout(spec, rng, fixed, reserved)
        if state is None or not _valid(spec, state, goal):
            continue
        phrasing = int(rng.integers(0, 1000))
        text = _describe_task(family, spec, goal, phrasing)
        task_spec = {"family": family, "goal": [g.to_dict() for g in goal], "scene": spec.to_dict(),
                     "initial_state": state.to_dict(), "phrasing": phrasing}
        return Task(text=text, family=family, spec=task_spec), state
    raise TaskSampleError(f"no valid {family} layout found in {_MAX_TRIES} tries with {opts}")

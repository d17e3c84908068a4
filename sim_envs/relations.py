"""The relation table: every spatial relation a subgoal can ask for, one class each.

A relation says, in one place, where it puts the moved block (`target`), whether it holds in
a physics state (`holds`), how it is said explicitly and naturally, what a teacher's step is
called, and the phrases the parser recognises. language.py, placement.py, tasks.py, the
teacher and the perception critic read relations only through `RELATIONS`, so a new relation
is one new class here. Left/right are as the front camera sees them (world -x is image left).
"""
from __future__ import annotations

import numpy as np

from interleave_robot.sim_envs.scene import BIN_HALF, BLOCK_HALF, WORKSPACE, ObjectSpec, SceneSpec, SceneState
from interleave_robot.sim_envs.workspace import SPACING, bin_slot, is_free, on_table_area, xy_of, z_of

ON_XY_TOL = 0.022  # a block is "on" another when centred within this (half a block)
ON_Z_TOL = 0.012
SIDE_RANGE = (0.045, 0.12)  # centre distance along x for left_of / right_of / next_to
SIDE_Y_TOL = 0.035
BETWEEN_TOL = 0.03
ON_TABLE_Z = BLOCK_HALF + 0.01
IN_BIN_Z = BLOCK_HALF + 0.015


class Relation:
    """One relation. Subclasses set the class attributes and implement target/holds/natural."""

    name: str = ""
    references: int = 1  # how many reference objects it needs
    reference_kind: str = "block"  # what a vague reference ("the blue one") resolves to first
    step_name: str = ""  # the teacher's step name: "<step_name> the red block"
    explicit_text: str = ""  # the explicit phrase: "<obj> is <explicit_text> the <ref>"
    keywords: dict[tuple[str, ...], bool] = {}  # parse phrases (tokens) -> is the phrase explicit?
    table_level: bool = True  # the moved block ends on the table beside its references
    stacks: bool = False  # the moved block ends on its reference (no later step may use either)

    def target(self, spec: SceneSpec, state: SceneState, obj: str, refs: list[str]) -> list[float]:
        """Where `obj`'s centre goes so that the relation holds (its current place ignored)."""
        raise NotImplementedError

    def holds(self, spec: SceneSpec, state: SceneState, obj: str, refs: list[str]) -> bool:
        """Whether the relation holds in a (settled) physics state."""
        raise NotImplementedError

    def natural(self, obj: ObjectSpec, refs: list[ObjectSpec]) -> list[str]:
        """Everyday phrasings (less explicit on purpose)."""
        raise NotImplementedError

    def explicit(self, ref_words: list[str]) -> str:
        """The explicit place phrase: 'on top of the blue block'."""
        return f"{self.explicit_text} the {ref_words[0]}"

    def resolve(self, refs: list[ObjectSpec]) -> "Relation":
        """The relation meant once the references are known (default: itself)."""
        return self

    def layout_ok(self, state: SceneState, refs: list[str]) -> bool:
        """Whether the references' layout leaves room for the relation (task sampling)."""
        return True

    def fixed_layout(self, rng: np.random.Generator) -> tuple[list[tuple[float, float]], tuple] | None:
        """Reference positions and a reserved box a sampled task must use, or None (free layout)."""
        return None


class On(Relation):
    name, step_name, explicit_text = "on", "Stack", "on top of"
    keywords = {("on", "top", "of"): True, ("onto",): True, ("atop",): True, ("on",): False, ("upon",): False}
    table_level, stacks = False, True

    def target(self, spec, state, obj, refs):
        if spec.get(refs[0]).kind == "bin":  # "on the bin" means in it
            return IN.target(spec, state, obj, refs)
        rx, ry = xy_of(state, refs[0])
        return [rx, ry, z_of(state, refs[0]) + 2 * BLOCK_HALF]

    def holds(self, spec, state, obj, refs):
        if spec.get(refs[0]).kind == "bin":
            return IN.holds(spec, state, obj, refs)
        dz = z_of(state, obj) - z_of(state, refs[0])
        return bool(np.hypot(*(xy_of(state, obj) - xy_of(state, refs[0]))) < ON_XY_TOL
                    and abs(dz - 2 * BLOCK_HALF) < ON_Z_TOL)

    def natural(self, o, refs):
        oc, rc = o.color, refs[0].color
        return [f"Put the {oc} one on the {rc} one.", f"Stack {oc} on {rc}.", f"Place the {o.words} on the {rc} one."]


class In(Relation):
    name, step_name, explicit_text = "in", "Put away", "inside"
    keywords = {("inside",): True, ("into",): True, ("in",): False}
    reference_kind, table_level = "bin", False

    def target(self, spec, state, obj, refs):
        return bin_slot(spec, state, refs[0], obj)

    def holds(self, spec, state, obj, refs):
        d = np.abs(xy_of(state, obj) - xy_of(state, refs[0]))
        return bool(d[0] < BIN_HALF and d[1] < BIN_HALF and z_of(state, obj) < IN_BIN_Z)

    def natural(self, o, refs):
        oc, rc = o.color, refs[0].color
        own = [f"Drop the {oc} one in its bin.", f"Put the {oc} one in the matching bin."] if oc == rc else []
        return own + [f"Put the {oc} one in the {rc} bin.", f"Drop {oc} in the {rc} tray."]

    def resolve(self, refs):
        return self if refs[0].kind == "bin" else ON  # "put red in blue" where blue is a block


class _Beside(Relation):
    """A table-level relation along x: the block goes SPACING to one of `sides` of its reference."""

    sides: tuple[int, ...] = ()
    side_word: str = ""

    def target(self, spec, state, obj, refs):
        rx, ry = xy_of(state, refs[0])
        for sign in self.sides:
            x = rx + sign * SPACING
            if on_table_area(x, ry) and is_free(spec, state, (x, ry), ignore=(obj, refs[0])):
                return [x, ry, BLOCK_HALF]
        return [rx + self.sides[0] * SPACING, ry, BLOCK_HALF]

    def holds(self, spec, state, obj, refs):
        if z_of(state, obj) > ON_TABLE_Z:
            return False
        dx, dy = xy_of(state, obj) - xy_of(state, refs[0])
        lo, hi = SIDE_RANGE
        return bool(abs(dy) <= SIDE_Y_TOL and any(lo <= sign * dx <= hi for sign in self.sides))

    def natural(self, o, refs):
        oc, rc, side = o.color, refs[0].color, self.side_word
        return [f"Move {oc} to the {side} of {rc}.", f"Put the {oc} one {side} of the {rc} one.",
                f"Place the {o.words} {side} of {rc}."]


class LeftOf(_Beside):
    name, step_name, explicit_text = "left_of", "Place left", "to the left of"
    keywords = {("to", "the", "left", "of"): True, ("left", "of"): True}
    sides, side_word = (-1,), "left"


class RightOf(_Beside):
    name, step_name, explicit_text = "right_of", "Place right", "to the right of"
    keywords = {("to", "the", "right", "of"): True, ("right", "of"): True}
    sides, side_word = (1,), "right"


class NextTo(_Beside):
    name, step_name, explicit_text = "next_to", "Place beside", "next to"
    keywords = {("next", "to"): True, ("beside",): False, ("by",): False, ("near",): False}
    sides = (1, -1)

    def natural(self, o, refs):
        oc, rc = o.color, refs[0].color
        return [f"Put the {oc} one by the {rc} one.", f"Move {oc} beside {rc}.", f"Set the {oc} one near the {rc} one."]


class Between(Relation):
    name, step_name, explicit_text = "between", "Place between", "between"
    keywords = {("between",): True, ("in", "between"): True}
    references = 2

    def target(self, spec, state, obj, refs):
        mx, my = (xy_of(state, refs[0]) + xy_of(state, refs[1])) / 2
        return [float(mx), float(my), BLOCK_HALF]

    def holds(self, spec, state, obj, refs):
        if z_of(state, obj) > ON_TABLE_Z:
            return False
        o, a, b = xy_of(state, obj), xy_of(state, refs[0]), xy_of(state, refs[1])
        ab = b - a
        t = float(np.dot(o - a, ab) / max(np.dot(ab, ab), 1e-9))
        perp = float(np.linalg.norm(o - (a + t * ab)))
        return 0.3 < t < 0.7 and perp < BETWEEN_TOL

    def explicit(self, ref_words):
        return f"between the {ref_words[0]} and the {ref_words[1]}"

    def natural(self, o, refs):
        oc, rc, rc2 = o.color, refs[0].color, refs[1].color
        return [f"Put the {oc} one between the {rc} and {rc2} ones.", f"Move {oc} between {rc} and {rc2}."]

    def layout_ok(self, state, refs):
        a, b = (xy_of(state, r) for r in refs)
        return 0.13 <= abs(a[0] - b[0]) <= 0.24 and abs(a[1] - b[1]) <= 0.05

    def fixed_layout(self, rng):
        # Two references side by side (along x) with room for a block between them.
        (x0, x1), (y0, y1) = WORKSPACE
        ax, ay = rng.uniform(x0, x1 - 0.2), rng.uniform(y0, y1)
        bx, by = ax + rng.uniform(0.15, 0.2), ay + rng.uniform(-0.03, 0.03)
        return [(ax, ay), (bx, by)], (ax + 0.04, bx - 0.04, min(ay, by) - 0.09, max(ay, by) + 0.09)


ON, IN = On(), In()
RELATIONS: dict[str, Relation] = {r.name: r for r in (ON, IN, LeftOf(), RightOf(), NextTo(), Between())}


def relation(name: str) -> Relation:
    """The relation called `name`; ValueError naming the known ones otherwise."""
    try:
        return RELATIONS[name]
    except KeyError:
        raise ValueError(f"unknown relation {name!r}; known: {', '.join(RELATIONS)}") from None

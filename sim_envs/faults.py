"""The simulated generator's fault model: how and how often an image editor gets a step wrong.

Fault law (documented contract): for a prompt of explicitness e in [0, 1] (language.py),

    effective_rate = min(1, fault_rate * (1 + vagueness_gain * (1 - e)))

so `fault_rate` is the rate for a fully explicit prompt and a vague one fails more often
(with the default gain 1.0, a prompt of explicitness 0.5 fails 1.5x as often). When a fault
happens its type is drawn from `fault_weights` (normalised). Types:

- no_op: nothing changes (the editor ignored the instruction);
- wrong_object: another block is moved to where the instructed one should go;
- wrong_place: the right block goes somewhere the relation does not hold;
- collateral: the step is done, and another block is displaced too;
- artifact: the step is done, and the image has noise and blotches;
- duplicate: the step is done, and a second copy of the moved block is drawn.

Three types also have subtle forms, drawn with probability `subtle_fraction` (the type's rate
is unchanged; `detail["form"]` records which form was drawn, "gross" or the subtle one):

- wrong_place "short": the right block stops a few cm short of its target (the first spot
  back along its path where the relation fails, plus 0.5-1.5 cm), slightly rotated (<= 20 deg);
- collateral "nudge": a bystander is pushed 1-2 cm; "twist": a bystander cube is turned
  20-40 degrees in place;
- artifact "bleed": the moved block's colour bleeds onto a neighbouring block (or, with no
  neighbour in view, onto the table beside it).

A subtle fault whose settled physics state turns out right is redrawn in its gross form by the
generator, so a recorded fault is always a real one.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from interleave_robot.sim_envs.language import Subgoal
from interleave_robot.sim_envs.placement import apply_subgoal, relation_holds, target_position
from interleave_robot.sim_envs.scene import BLOCK_HALF, SceneSpec, SceneState
from interleave_robot.sim_envs.workspace import in_workspace, is_free, random_free_spot

FAULT_TYPES = ("no_op", "wrong_object", "wrong_place", "collateral", "artifact", "duplicate")
SUBTLE_FORMS = {"wrong_place": ("short",), "collateral": ("nudge", "twist"), "artifact": ("bleed",)}
GROSS = "gross"
NO_FAULT = "none"
UNPARSED = "unparsed"


def effective_fault_rate(fault_rate: float, explicitness: float, vagueness_gain: float) -> float:
    """The fault law above."""
    return float(min(1.0, fault_rate * (1.0 + vagueness_gain * (1.0 - explicitness))))


def draw_fault(rng: np.random.Generator, rate: float, weights: dict[str, float]) -> str:
    """NO_FAULT with probability 1 - rate, else a fault type drawn by weight."""
    if rng.random() >= rate:
        return NO_FAULT
    names = [n for n in FAULT_TYPES if weights.get(n, 0.0) > 0]
    p = np.array([weights[n] for n in names], dtype=float)
    return str(rng.choice(names, p=p / p.sum()))


def _movable_others(spec: SceneSpec, state: SceneState, subgoal: Subgoal) -> list[str]:
    """Blocks other than the step's object and references, with nothing resting on them."""
    involved = {subgoal.obj, *subgoal.reference}
    names = []
    for b in spec.blocks:
        if b.name in involved:
            continue
        x, y, z = state.positions[b.name]
        covered = any(abs(state.positions[o.name][0] - x) < BLOCK_HALF and abs(state.positions[o.name][1] - y)
                      < BLOCK_HALF and state.positions[o.name][2] > z + BLOCK_HALF
                      for o in spec.blocks if o.name != b.name)
        if not covered:
            names.append(b.name)
    return names


def _displace(spec: SceneSpec, state: SceneState, name: str, rng: np.random.Generator) -> SceneState | None:
    spot = random_free_spot(spec, state, rng, ignore=(name,))
    if spot is None:
        return None
    new = state.copy()
    new.positions[name] = spot
    new.quaternions[name] = [1.0, 0.0, 0.0, 0.0]
    return new


def draw_form(rng: np.random.Generator, fault: str, subtle_fraction: float) -> str:
    """GROSS, or one of the fault type's subtle forms with probability `subtle_fraction`."""
    forms = SUBTLE_FORMS.get(fault, ())
    if not forms or rng.random() >= subtle_fraction:
        return GROSS
    return str(forms[int(rng.integers(len(forms)))])


def _yaw(degrees: float) -> list[float]:
    half = np.radians(degrees) / 2
    return [float(np.cos(half)), 0.0, 0.0, float(np.sin(half))]


def _short_of_target(spec: SceneSpec, source: SceneState, subgoal: Subgoal, rng: np.random.Generator) -> SceneState | None:
    """The right block stopped short of its target on the table: the first spot back along its
    path (5 mm steps) that is free and where the relation fails, plus 0.5-1.5 cm; yawed <= 20 deg."""
    target = np.asarray(target_position(spec, source, subgoal)[:2], dtype=float)
    back = np.asarray(source.positions[subgoal.obj][:2], dtype=float) - target
    if np.linalg.norm(back) < 0.02:
        angle = rng.uniform(0, 2 * np.pi)
        back = np.array([np.cos(angle), np.sin(angle)])
    back /= np.linalg.norm(back)
    extra = rng.uniform(0.005, 0.015)
    for distance in np.arange(0.01, 0.15, 0.005):
        xy = target + back * (distance + extra)
        new = source.copy()
        new.positions[subgoal.obj] = [float(xy[0]), float(xy[1]), BLOCK_HALF]
        new.quaternions[subgoal.obj] = _yaw(rng.uniform(-20, 20))
        if (is_free(spec, new, xy, ignore=(subgoal.obj,), radius=2 * BLOCK_HALF + 0.006)
                and not relation_holds(spec, new, subgoal) and in_workspace(*xy)):
            return new
    return None


def _nudged(spec: SceneSpec, state: SceneState, name: str, form: str, rng: np.random.Generator) -> SceneState | None:
    """`name` pushed 1-2 cm in a free direction ("nudge") or turned 20-40 deg in place ("twist")."""
    new = state.copy()
    if form == "twist":
        if spec.get(name).shape != "cube":
            return None  # a turned cylinder looks the same: nothing would be wrong in the image
        new.quaternions[name] = _yaw(float(rng.choice([-1, 1]) * rng.uniform(20, 40)))
        return new
    for _ in range(12):
        angle, step = rng.uniform(0, 2 * np.pi), rng.uniform(0.01, 0.02)
        xy = np.asarray(state.positions[name][:2]) + step * np.array([np.cos(angle), np.sin(angle)])
        if is_free(spec, state, xy, ignore=(name,), radius=2 * BLOCK_HALF + 0.006):
            new.positions[name] = [float(xy[0]), float(xy[1]), float(state.positions[name][2])]
            return new
    return None


def apply_fault(fault: str, spec: SceneSpec, source: SceneState, subgoal: Subgoal,
                rng: np.random.Generator, form: str = GROSS) -> tuple[str, SceneState, dict]:
    """(fault actually applied, unsettled result state, detail). A fault that cannot apply in
    this scene (no other block to move, no free spot) falls back to no_op, recorded as such; a
    subtle form that cannot apply falls back to the gross one (detail["form"] says which)."""
    intended = apply_subgoal(spec, source, subgoal)
    if form != GROSS:
        if fault == "wrong_place" and form == "short":
            new = _short_of_target(spec, source, subgoal, rng)
            if new is not None:
                return fault, new, {"form": form, "placed_at": new.positions[subgoal.obj]}
        elif fault == "collateral":
            others = _movable_others(spec, source, subgoal)
            if others:
                other = str(rng.choice(others))
                new = _nudged(spec, intended, other, form, rng)
                if new is not None:
                    return fault, new, {"form": form, "collateral_object": other}
        elif fault == "artifact":
            return fault, intended, {"form": form}
    fault, state, detail = _apply_gross(fault, spec, source, subgoal, intended, rng)
    return fault, state, {"form": GROSS, **detail}


def _apply_gross(fault, spec, source, subgoal, intended, rng) -> tuple[str, SceneState, dict]:
    if fault in (NO_FAULT, "artifact"):
        return fault, intended, {}
    if fault == "duplicate":
        spot = list(source.positions[subgoal.obj])
        if np.hypot(spot[0] - intended.positions[subgoal.obj][0], spot[1] - intended.positions[subgoal.obj][1]) < 0.05:
            spot = random_free_spot(spec, intended, rng) or spot
        return fault, intended, {"duplicate_of": subgoal.obj, "duplicate_at": [float(v) for v in spot]}
    if fault == "wrong_object":
        others = _movable_others(spec, source, subgoal)
        if others:
            other = str(rng.choice(others))
            wrong = Subgoal(other, subgoal.relation, subgoal.reference)
            new = source.copy()
            new.positions[other] = [float(v) for v in target_position(spec, source, wrong)]
            new.quaternions[other] = [1.0, 0.0, 0.0, 0.0]
            return fault, new, {"moved_instead": other}
        fault = "wrong_place"  # a scene with no other block: the editor misplaces instead
    if fault == "wrong_place":
        for _ in range(20):
            new = _displace(spec, source, subgoal.obj, rng)
            if new is not None and not relation_holds(spec, new, subgoal):
                return fault, new, {"placed_at": new.positions[subgoal.obj]}
        return "no_op", source.copy(), {"fallback_from": "wrong_place"}
    if fault == "collateral":
        others = _movable_others(spec, source, subgoal)
        if others:
            other = str(rng.choice(others))
            new = _displace(spec, intended, other, rng)
            if new is not None:
                return fault, new, {"collateral_object": other}
        return "no_op", source.copy(), {"fallback_from": "collateral"}
    if fault == "no_op":
        return fault, source.copy(), {}
    raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULT_TYPES)}")


def add_artifacts(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise plus a few grey/dark blotches, scaled to the image size (off-palette pixels)."""
    h, w = image.shape[:2]
    out = image.astype(np.float32) + rng.normal(0.0, 10.0, image.shape)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
        ry, rx = rng.uniform(0.03, 0.07) * h, rng.uniform(0.03, 0.07) * w
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        out[mask] = rng.uniform(20, 140)  # a grey or dark smudge: no block or bin colour
    return np.clip(out, 0, 255).astype(np.uint8)


def bleed_colour(image: np.ndarray, source_mask: np.ndarray, neighbour_masks: list[np.ndarray],
                 rng: np.random.Generator) -> np.ndarray:
    """The colour of the pixels under `source_mask` (the moved block) bled onto the nearest
    neighbour it does not touch (the half of it facing the block, alpha 0.4-0.6), or onto the
    table around the block when there is none within 30% of the image."""
    vs, us = np.nonzero(source_mask)
    if vs.size == 0:
        return image.copy()
    colour = image[source_mask].astype(np.float32).mean(axis=0)
    centre = np.array([vs.mean(), us.mean()])
    near = None
    touching = ndimage.binary_dilation(source_mask, iterations=2)
    for mask in neighbour_masks:
        if mask.sum() < 6 or (mask & touching).any():
            continue  # a block the moved one rests on (or that rests on it) is hidden where they meet
        mv, mu = np.nonzero(mask)
        d = float(np.hypot(mv.mean() - centre[0], mu.mean() - centre[1]))
        if near is None or d < near[0]:
            near = (d, mask, np.array([mv.mean(), mu.mean()]))
    if near is not None and near[0] < 0.3 * image.shape[0]:
        _, mask, other = near
        yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
        facing = (yy - other[0]) * (centre[0] - other[0]) + (xx - other[1]) * (centre[1] - other[1]) >= 0
        region = mask & facing
        if region.sum() < 6:
            region = mask
    else:
        region = ndimage.binary_dilation(source_mask, iterations=3) & ~source_mask
    alpha = rng.uniform(0.4, 0.6)
    out = image.astype(np.float32)
    out[region] = (1 - alpha) * out[region] + alpha * colour
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

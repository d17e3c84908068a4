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
"""
from __future__ import annotations

import numpy as np

from interleave_robot.sim_envs.language import Subgoal
from interleave_robot.sim_envs.placement import apply_subgoal, relation_holds, target_position
from interleave_robot.sim_envs.scene import BLOCK_HALF, SceneSpec, SceneState
from interleave_robot.sim_envs.workspace import random_free_spot

FAULT_TYPES = ("no_op", "wrong_object", "wrong_place", "collateral", "artifact", "duplicate")
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


def apply_fault(fault: str, spec: SceneSpec, source: SceneState, subgoal: Subgoal,
                rng: np.random.Generator) -> tuple[str, SceneState, dict]:
    """(fault actually applied, unsettled result state, detail). A fault that cannot apply in
    this scene (no other block to move, no free spot) falls back to no_op, recorded as such."""
    intended = apply_subgoal(spec, source, subgoal)
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

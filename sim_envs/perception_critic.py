"""Perception critic: classical vision on the before/after images, no model weights.

It implements `interleave_robot.agents.Critic` (registered as critic "perception"). From the
instruction (parsed against the scene's object list with `language.parse_instruction`), the
two images and the camera model it checks, in this order:

- artifact: pixels of no palette colour appeared, or pixels changed that no object explains;
- duplicate: a block colour covers more than one block's silhouette, or gained a component;
- which blocks moved (visible pixels compared outside the moved object's footprint, so that
  being covered by it is not a move): none -> no_op; only others -> wrong_object; the
  intended one and others -> collateral;
- placement: the intended block's position, back-projected through the camera onto its
  support (table, bin floor, or the block beneath), satisfies the relation -> else wrong_place.

A rejection names every fault found in `reason` and gives, as `refine_prompt`, the most
explicit wording of the subgoal (`language.describe_subgoal`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interleave_robot.agents import Critic
from interleave_robot.errors import ConfigError
from interleave_robot.images import check_image
from interleave_robot.types import CritiqueRequest, Verdict

from interleave_robot.sim_envs import vision
from interleave_robot.sim_envs.relations import RELATIONS
from interleave_robot.sim_envs.scene import BIN_HALF, BLOCK_HALF, SceneSpec, SceneState

BIN_FLOOR_Z = 0.002  # a block in a bin rests on its 2 mm floor


@dataclass
class PerceptionCriticConfig:
    """Thresholds in pixels at the image size judged. Placement tolerances are those of
    `placement.relation_holds`, shared with the teacher and the generator."""

    move_pixels: int = 6  # visible pixels of a block that must change for it to count as moved
    move_fraction: float = 0.2  # ... and as a fraction of its visible area
    artifact_pixels: int = 8  # unexplained changed or off-palette pixels tolerated
    artifact_mean_diff: float = 4.0  # mean |difference| outside objects (image noise)
    duplicate_units: float = 0.4  # gain in a colour's area, in unoccluded-block silhouettes
    min_component_pixels: int = 6  # smaller colour specks are ignored

    def __post_init__(self):
        for name, value in (("move_pixels", self.move_pixels), ("artifact_pixels", self.artifact_pixels),
                            ("min_component_pixels", self.min_component_pixels)):
            if value < 1:
                raise ConfigError(f"PerceptionCriticConfig.{name} must be >= 1, got {value}")
        for name, value in (("move_fraction", self.move_fraction), ("duplicate_units", self.duplicate_units),
                            ("artifact_mean_diff", self.artifact_mean_diff)):
            if not value > 0:
                raise ConfigError(f"PerceptionCriticConfig.{name} must be > 0, got {value}")


@dataclass
class Finding:
    """One fault the critic saw: its kind (the simulated generator's fault names) and why."""

    kind: str  # "artifact", "duplicate", "no_op", "wrong_object", "collateral", "wrong_place"
    text: str


class PerceptionCritic(Critic):
    """Critic from colour segmentation and camera geometry (a sim-grounded baseline)."""

    config_class = PerceptionCriticConfig

    def __init__(self, config: PerceptionCriticConfig | None = None):
        self.config = config or PerceptionCriticConfig()

    def critique(self, request: CritiqueRequest) -> Verdict:
        from interleave_robot.sim_envs.language import PromptParseError, describe_subgoal, parse_instruction

        before = check_image(request.before_image, "before image")
        after = check_image(request.after_image, "after image")
        if before.shape != after.shape:
            raise ConfigError(f"before and after images differ in size: {before.shape} vs {after.shape}")
        if request.camera is None:
            raise ConfigError("the perception critic needs request.camera (the scene's camera model)")
        spec = scene_spec_of(request)
        subgoal, errors = None, []
        for text in (request.instruction, request.prompt):
            try:
                subgoal = parse_instruction(text, spec)
                break
            except PromptParseError as exc:
                errors.append(str(exc))
        if subgoal is None:
            return Verdict(success=False, refine_prompt=request.prompt,
                           reason=f"unparsed: cannot tell what the step asks ({'; '.join(errors)})")
        findings = judge(before, after, request.camera, subgoal, spec, self.config)
        if not findings:
            return Verdict(success=True, reason=f"the {spec.get(subgoal.obj).words} moved as asked "
                                                f"and nothing else changed")
        return Verdict(success=False, refine_prompt=describe_subgoal(subgoal, spec),
                       reason="; ".join(f"{f.kind}: {f.text}" for f in findings))


def scene_spec_of(request: CritiqueRequest) -> SceneSpec:
    """The object list from Task.spec["scene"] (SceneSpec.to_dict()), a ConfigError if absent."""
    if request.task is None or not request.task.spec or "scene" not in request.task.spec:
        raise ConfigError("the perception critic needs request.task.spec['scene'] (the scene's object list)")
    return SceneSpec.from_dict(request.task.spec["scene"])


def judge(before: np.ndarray, after: np.ndarray, camera, subgoal, spec: SceneSpec,
          config: PerceptionCriticConfig) -> list[Finding]:
    """Every fault visible between `before` and `after` for `subgoal`; empty if the step is right.

    Blocks are told apart by colour; where two blocks share a colour (sort tasks) their
    pixels are judged together, and the moved one is the component that left its place.
    """
    colors = sorted({b.color for b in spec.blocks})
    bin_colors = [b.color for b in spec.bins]
    seg_before, seg_after = vision.segment(before, bin_colors), vision.segment(after, bin_colors)
    masks_before = {c: seg_before.blocks[c] for c in colors}
    masks_after = {c: seg_after.blocks[c] for c in colors}
    bins_before, bins_after = seg_before.bins, seg_after.bins
    findings = _artifacts(before, after, seg_before.off_palette, seg_after.off_palette,
                          [*masks_before.values(), *masks_after.values(),
                           *bins_before.values(), *bins_after.values()], config)
    scenes = [_components(camera, masks, config) for masks in (masks_before, masks_after)]
    findings += [Finding("duplicate", f"a second {_words(spec, c)} appeared") for c in colors
                 if scenes[1].units(c) - scenes[0].units(c) > config.duplicate_units]

    target = spec.get(subgoal.obj)
    footprint = vision.dilate(masks_before[target.color] | masks_after[target.color], 2)
    target_moved = _moved(masks_before[target.color], masks_after[target.color], None, config)
    others = [_words(spec, c) for c in colors
              if c != target.color and _moved(masks_before[c], masks_after[c], footprint, config)]
    if not target_moved:
        if others:
            findings.append(Finding("wrong_object", f"the {', '.join(others)} moved instead of the {target.words}"))
        else:
            findings.append(Finding("no_op", f"the {target.words} did not move"))
        return findings
    if others:
        findings.append(Finding("collateral", f"the {', '.join(others)} moved too"))
    problem = _placement(camera, subgoal, spec, scenes[1], masks_before[target.color],
                         bins_before, bins_after)
    if problem:
        findings.append(Finding("wrong_place", problem))
    return findings


def _words(spec: SceneSpec, color: str) -> str:
    names = [b.words for b in spec.blocks if b.color == color]
    return names[0] if len(names) == 1 else f"{color} blocks"


@dataclass
class _Components:
    """The block-coloured components of one image, each with its support height and size
    in block units (area over one unoccluded block's silhouette at that place)."""

    blobs: dict[str, vision.Blob]  # key "color#i"
    heights: dict[str, float]
    unit_areas: dict[str, float]

    def units(self, color: str) -> float:
        return sum(u for k, u in self.unit_areas.items() if k.startswith(color + "#"))

    def of(self, color: str) -> list[str]:
        return [k for k in self.blobs if k.startswith(color + "#")]


def _components(camera, masks: dict[str, np.ndarray], config) -> _Components:
    found = {f"{c}#{i}": blob for c, mask in masks.items()
             for i, blob in enumerate(vision.blobs(mask, min_area=config.min_component_pixels))}
    heights = vision.block_heights(camera, found)
    units = {k: b.area / vision.silhouette_area(camera, vision.block_center_from_bottom(camera, b, heights[k]))
             for k, b in found.items()}
    return _Components(found, heights, units)


def _artifacts(before, after, off_before, off_after, object_masks, config) -> list[Finding]:
    new_off_palette = off_after & ~off_before
    explained = vision.dilate(np.logical_or.reduce(object_masks), 2)
    residual = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=-1)
    outside = residual[~explained]
    unexplained = int((outside > 40).sum())
    found = []
    if int(new_off_palette.sum()) > config.artifact_pixels:
        found.append(f"{int(new_off_palette.sum())} pixels of colours outside the scene's palette")
    if unexplained > config.artifact_pixels:
        found.append(f"{unexplained} changed pixels that no object explains")
    elif outside.size and float(outside.mean()) > config.artifact_mean_diff:
        found.append(f"image noise (mean change {float(outside.mean()):.1f} outside the objects)")
    return [Finding("artifact", ", ".join(found))] if found else []


def _moved(before: np.ndarray, after: np.ndarray, exclude: np.ndarray | None, config) -> bool:
    """Did the block(s) with these masks move? Pixels under `exclude` (the moved object's
    footprint) are ignored: being covered or uncovered by it is not a move."""
    if exclude is not None:
        before, after = before & ~exclude, after & ~exclude
    changed = int((before ^ after).sum())
    visible = max(int(before.sum()), int(after.sum()), 1)
    return changed >= config.move_pixels and changed >= config.move_fraction * visible


def _placement(camera, subgoal, spec, after: _Components, target_before: np.ndarray,
               bins_before, bins_after) -> str:
    """'' if the intended block's after position satisfies the relation, else why not.

    The after scene's positions are estimated from the image (blocks through their support,
    bins from their pale footprint) and judged by `placement.relation_holds`, the same
    geometry the teacher and the generator use.
    """
    from interleave_robot.sim_envs.placement import relation_holds

    target = spec.get(subgoal.obj)
    keys = after.of(target.color)
    if not keys:
        return f"the {target.words} is not visible in the after image"
    # The moved block is the component that overlaps its colour's old pixels least.
    key = min(keys, key=lambda k: (after.blobs[k].mask & target_before).sum() / after.blobs[k].area)
    state = SceneState()
    state.positions[target.name] = list(vision.block_center_from_bottom(
        camera, after.blobs[key], after.heights[key]))
    refs = [spec.get(r) for r in subgoal.reference]
    for ref in refs:
        if ref.kind == "bin":
            # A bin is one region: specks of its tint elsewhere (shaded edges of another bin) are not it.
            blob = vision.largest_blob(bins_before[ref.color] | bins_after[ref.color])
            if blob is None:
                return f"the {ref.words} is not visible"
            state.positions[ref.name] = _bin_center(camera, blob)
            # The bin's front wall hides the block's bottom edge: use its centroid on the bin floor.
            state.positions[target.name] = list(vision.block_center_from_blob(
                camera, after.blobs[key], BIN_FLOOR_Z + BLOCK_HALF))
            continue
        ref_keys = [k for k in after.of(ref.color) if k != key]
        if not ref_keys:
            return f"the reference {ref.words} is not visible in the after image"
        ref_key = max(ref_keys, key=lambda k: after.blobs[k].area)
        state.positions[ref.name] = list(vision.block_center_from_bottom(
            camera, after.blobs[ref_key], after.heights[ref_key]))
    if relation_holds(spec, state, subgoal):
        return ""
    d = 100 * (np.asarray(state.positions[target.name]) - np.asarray(state.positions[refs[0].name]))
    where = RELATIONS[subgoal.relation].explicit([r.words for r in refs])
    return (f"the {target.words} is not {where} "
            f"(seen at {d[0]:+.1f}, {d[1]:+.1f}, {d[2]:+.1f} cm from the {refs[0].words})")


def _bin_center(camera, blob: vision.Blob) -> list[float]:
    """A bin's centre from its footprint's bottom row (the near wall's foot, on the table)."""
    us = np.nonzero(blob.mask[blob.bottom])[0]
    edge = vision.ray_plane_z(camera, float(us.mean()), blob.bottom + 0.5, 0.0)
    return [float(edge[0]), float(edge[1] + BIN_HALF), 0.0]

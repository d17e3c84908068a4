"""Perception critic: classical vision on the before/after images, no model weights.

It implements `interleave_robot.agents.Critic` (registered as critic "perception"). From the
instruction (parsed against the scene's object list with `language.parse_instruction`), the
two images and the camera model it checks, after registering and segmenting both images with
the shared perception module (perception.py), in this order:

- artifact: pixels changed far beyond the images' own noise where no object explains them,
  new pixels of no palette colour, a noise level that rose, or a block's colour bled onto
  another block (its pixels recoloured in place);
- duplicate: a block colour covers more than one block's silhouette more than before;
- which blocks moved (perception.block_moved, outside the moved object's footprint, so that
  being covered by it is not a move): none -> no_op; only others -> wrong_object; the
  intended one and others -> collateral;
- placement: the intended block's position, back-projected through the camera onto its
  support (table, bin floor, or the block beneath), satisfies the relation -> else wrong_place.

A rejection names every fault found in `reason` and gives, as `refine_prompt`, the most
explicit wording of the subgoal (`language.describe_subgoal`) followed by a sentence aimed at
the first fault seen (which block must stay, where the block must end, ...).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from interleave_robot.agents import Critic
from interleave_robot.errors import ConfigError
from interleave_robot.images import check_image
from interleave_robot.types import CritiqueRequest, Verdict

from interleave_robot.sim_envs import perception, vision
from interleave_robot.sim_envs.perception import BIN_FLOOR_Z
from interleave_robot.sim_envs.language import PromptParseError, Subgoal, describe_subgoal, parse_instruction
from interleave_robot.sim_envs.placement import relation_holds
from interleave_robot.sim_envs.relations import RELATIONS
from interleave_robot.sim_envs.scene import BLOCK_HALF, SceneSpec, SceneState, spec_from_inventory


EDGE_MOVE = 0.006  # metres: a bystander's foot moving this much moved it (a nudge is 1-2 cm)
HIDDEN_SHARE = 0.25  # a bystander with less than this share of its pixels left beside the moved block is not judged


@dataclass
class PerceptionCriticConfig:
    """Thresholds of what counts as a fault. "Did this block move" and the minimum blob size
    are perception.py's, shared with the executor; placement tolerances are those of the
    relation table, shared with the teacher and the generator."""

    artifact_pixels: int = 16  # unexplained changed or off-palette pixels tolerated (a blotch is 50+)
    artifact_sigmas: float = 6.0  # a pixel "changed" when it differs by this many noise sigmas ...
    artifact_min_diff: float = 30.0  # ... and by at least this many grey levels
    noise_ratio: float = 2.0  # the after image's noise may be this many times the before's ...
    noise_margin: float = 2.5  # ... plus this (grey levels)
    bleed_fraction: float = 0.35  # a block whose pixels are recoloured in place by this share: bleeding
    stain_shift: float = 0.2  # a block's half facing the moved one turned this far (share of the colour gap) more
    #                           towards the moved block's colour than its far half: the colour bled onto it
    halo_share: float = 0.3  # the moved block's colour spread around it by this share of its own area: bled onto the table
    duplicate_units: float = 0.4  # gain in a colour's area, in unoccluded-block silhouettes

    def __post_init__(self):
        if self.artifact_pixels < 1:
            raise ConfigError(f"PerceptionCriticConfig.artifact_pixels must be >= 1, got {self.artifact_pixels}")
        for name in ("artifact_sigmas", "artifact_min_diff", "noise_ratio", "noise_margin", "bleed_fraction",
                     "stain_shift", "halo_share", "duplicate_units"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"PerceptionCriticConfig.{name} must be > 0, got {value}")


@dataclass
class Finding:
    """One fault the critic saw: its kind (the simulated generator's fault names) and why."""

    kind: str  # "artifact", "duplicate", "no_op", "wrong_object", "collateral", "wrong_place"
    text: str
    hint: str = ""  # what the refined prompt adds for this fault


class PerceptionCritic(Critic):
    """Critic from colour segmentation and camera geometry (a sim-grounded baseline)."""

    config_class = PerceptionCriticConfig

    def __init__(self, config: PerceptionCriticConfig | None = None):
        self.config = config or PerceptionCriticConfig()

    def critique(self, request: CritiqueRequest) -> Verdict:
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
        return Verdict(success=False, refine_prompt=refined_prompt(subgoal, spec, findings),
                       reason="; ".join(f"{f.kind}: {f.text}" for f in findings))


def refined_prompt(subgoal: Subgoal, spec: SceneSpec, findings: list[Finding]) -> str:
    """The explicit wording of the subgoal, then what to do differently about the first fault.
    The explicit sentence comes first, so the prompt parses back to the same subgoal."""
    hint = next((f.hint for f in findings if f.hint), "")
    return f"{describe_subgoal(subgoal, spec)} {hint}".strip()


def scene_spec_of(request: CritiqueRequest) -> SceneSpec:
    """The object list from the request's scene inventory (ConfigError if there is none), at the
    camera's image size."""
    if not request.inventory:
        raise ConfigError("the perception critic needs request.inventory (the scene's object list)")
    try:
        return spec_from_inventory(request.inventory, request.camera.width, request.camera.height)
    except ValueError as exc:
        raise ConfigError(f"the perception critic cannot use this scene inventory: {exc}") from None


def judge(before: np.ndarray, after: np.ndarray, camera, subgoal: Subgoal, spec: SceneSpec,
          config: PerceptionCriticConfig) -> list[Finding]:
    """Every fault visible between `before` and `after` for `subgoal`; empty if the step is right.

    Blocks are told apart by colour; where two blocks share a colour their pixels are judged
    together, and the moved one is the component that left its place."""
    colors = sorted({b.color for b in spec.blocks})
    view = perception.compare(before, after, colors, [b.color for b in spec.bins])
    target = spec.get(subgoal.obj)
    footprint = view.footprint(target.color)
    bled = _bleeding(view, spec, target.color, footprint, config)
    bled += [c for c in _stained_towards(view, target.color, footprint, config) if c not in bled]
    findings = _artifacts(view, config)
    for color in bled:
        findings.append(Finding("artifact", f"the {_words(spec, color)} is stained: its colour changed in place",
                                "Draw every block in its own colour only, with clean edges."))
    if _halo(view, target.color, config):
        findings.append(Finding("artifact", f"the {target.words}'s colour spread onto what surrounds it",
                                "Draw every block in its own colour only, with clean edges."))
    # Pixels a bleed recoloured are no block: they must not count as a second one.
    stained = np.logical_or.reduce([view.blocks_before[c] for c in bled] + [np.zeros(before.shape[:2], bool)])
    after_blocks = {c: m & ~stained for c, m in view.blocks_after.items()}
    scenes = [_components(camera, masks) for masks in (view.blocks_before, after_blocks)]
    findings += [Finding("duplicate", f"a second {_words(spec, c)} appeared",
                         f"There must be exactly one {_words(spec, c)} in the image.") for c in colors
                 if scenes[1].units(c) - scenes[0].units(c) > config.duplicate_units]
    target_moved = view.moved(target.color)
    others = [c for c in colors if c != target.color and c not in bled and not _hidden_by(view, c, footprint)
              and not _covered_in_place(view, scenes[0], c) and view.moved(c, footprint) and _base_moved(camera, scenes, c)]
    named = ", ".join(f"the {_words(spec, c)}" for c in others)
    if not target_moved:
        if others:
            findings.append(Finding("wrong_object", f"{named} moved instead of the {target.words}",
                                    f"Move only the {target.words}; leave {named} where it is."))
        else:
            findings.append(Finding("no_op", f"the {target.words} did not move",
                                    f"The {target.words} must visibly move to its new place."))
        return findings
    if others:
        findings.append(Finding("collateral", f"{named} moved too",
                                f"Do not move or turn {named}: only the {target.words} changes."))
    problem = _placement(camera, subgoal, spec, scenes[1], view, scenes[0])
    if problem:
        where = RELATIONS[subgoal.relation].explicit([spec.get(r).words for r in subgoal.reference])
        findings.append(Finding("wrong_place", problem,
                                f"It must end exactly {where}, not near it or short of it."))
    return findings


def _hidden_by(view: perception.Comparison, color: str, footprint: np.ndarray) -> bool:
    """Is the block of this colour now mostly behind or under the moved block (less than a
    quarter of it left in view, though it was in view)? What is left of it cannot say whether
    it moved: a sliver's edges are all re-encoding blur."""
    seen = int(view.blocks_before[color].sum())
    left = int((view.blocks_after[color] & ~footprint).sum())
    overlap = int((view.blocks_before[color] & footprint).sum())
    return seen >= perception.MIN_BLOB_PIXELS and overlap > 0 and left < HIDDEN_SHARE * seen


def _covered_in_place(view: perception.Comparison, before: "_Components", color: str) -> bool:
    """Is the block of this colour one with another block resting on it in the before image, and is
    nothing of its colour seen away from where it was? Such a block shows a strip of its front face
    a few pixels tall, which re-encoding smears into the colour above it; what is left of the strip
    cannot say whether it moved (and a block beneath another cannot move without the one on top)."""
    keys = before.of(color)
    if not keys or not any(before.supports[k] in keys for k in before.blobs):
        return False
    around = ndimage.binary_dilation(view.blocks_before[color], iterations=3)
    return int((view.blocks_after[color] & ~around).sum()) < perception.MIN_BLOB_PIXELS


def _base_moved(camera, scenes: list, color: str) -> bool:
    """Did the foot of the block of this colour move (>= EDGE_MOVE on its support)? A block that
    something now covers or leans over changes its visible pixels, not where it stands."""
    parts = [max(scene.of(color), key=lambda k: scene.blobs[k].area, default=None) for scene in scenes]
    if None in parts:
        return True  # appeared or vanished
    # Both at the height seen before: a tower found in one image and missed in the other must not
    # read as a move (a block lifted onto another still shows a foot far from where it stood).
    height = scenes[0].heights[parts[0]]
    feet = [vision.block_center_from_bottom(camera, scene.blobs[k], height) for scene, k in zip(scenes, parts)]
    return float(np.linalg.norm(feet[1] - feet[0])) >= EDGE_MOVE


def _words(spec: SceneSpec, color: str) -> str:
    names = [b.words for b in spec.blocks if b.color == color]
    return names[0] if len(names) == 1 else f"{color} blocks"


@dataclass
class _Components:
    """The block-coloured components of one image, each with its support height and size
    in block units (area over one unoccluded block's silhouette at that place)."""

    blobs: dict[str, vision.Blob]  # key "color#i"
    heights: dict[str, float]
    supports: dict[str, str | None]  # the component each rests on (None: the table or a bin)
    unit_areas: dict[str, float]

    def units(self, color: str) -> float:
        return sum(u for k, u in self.unit_areas.items() if k.startswith(color + "#"))

    def of(self, color: str) -> list[str]:
        return [k for k in self.blobs if k.startswith(color + "#")]


def _components(camera, masks: dict[str, np.ndarray]) -> _Components:
    found = {f"{c}#{i}": blob for c, mask in masks.items() for i, blob in enumerate(perception.blobs(mask))}
    heights, supports = vision.stack_structure(camera, found)
    units = {k: b.area / vision.silhouette_area(camera, vision.block_center_from_bottom(camera, b, heights[k]))
             for k, b in found.items()}
    return _Components(found, heights, supports, units)


def _artifacts(view: perception.Comparison, config: PerceptionCriticConfig) -> list[Finding]:
    """Changes no object explains, judged against the images' own noise."""
    objects = np.logical_or.reduce([*view.blocks_before.values(), *view.blocks_after.values(),
                                    *view.bins_before.values(), *view.bins_after.values(),
                                    np.zeros(view.before.shape[:2], bool)])
    h, w = objects.shape
    m = perception.MAX_SHIFT + 1
    inner = np.zeros((h, w), bool)
    inner[m:h - m, m:w - m] = True  # a misregistered frame's edges are replicated, not seen
    background = inner & ~ndimage.binary_dilation(objects, iterations=2)
    found = []
    if background.sum() > 64:
        before = view.before.astype(np.float32)
        after = _match_colours(view.after.astype(np.float32), before, background)
        d = (after - before)[background]
        sigma = float(1.4826 * np.median(np.abs(d - np.median(d, axis=0)), axis=0).max())
        # A pixel changed when it leaves the range of its 3x3 neighbourhood in the before image:
        # edges that blur or a sub-pixel misregistration move are not changes.
        lo = ndimage.minimum_filter(before, size=(3, 3, 1))
        hi = ndimage.maximum_filter(before, size=(3, 3, 1))
        excess = np.maximum(np.maximum(lo - after, after - hi), 0.0).max(axis=-1)
        hot = (excess > max(config.artifact_sigmas * sigma, config.artifact_min_diff)) & background
        hot = perception.clean(hot, 3, open_lines=False)
        if int(hot.sum()) > config.artifact_pixels:
            found.append(f"{int(hot.sum())} changed pixels that no object explains (noise sigma {sigma:.1f})")
    # Blends of two blocks' colours at their shared edge are foreign hues too: only those away from objects count.
    new_off = perception.clean(view.off_after & ~ndimage.binary_dilation(view.off_before, iterations=2)
                               & ~ndimage.binary_dilation(objects, iterations=2) & inner, open_lines=False)
    if int(new_off.sum()) > config.artifact_pixels:
        found.append(f"{int(new_off.sum())} pixels of colours outside the scene's palette")
    if view.noise_after > config.noise_ratio * view.noise_before + config.noise_margin:
        found.append(f"image noise rose from {view.noise_before:.1f} to {view.noise_after:.1f}")
    return [Finding("artifact", ", ".join(found), "Keep the image clean: no smudges, stains or noise.")] if found else []


def _match_colours(image: np.ndarray, reference: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`image` with each channel mapped linearly (gain, offset) onto `reference` over `where`:
    an editor's colour and brightness shift is not a change of the scene."""
    out = image.copy()
    for c in range(3):
        x, y = image[..., c][where], reference[..., c][where]
        a = np.vstack([x, np.ones_like(x)]).T
        (gain, offset), *_ = np.linalg.lstsq(a, y, rcond=None)
        out[..., c] = gain * image[..., c] + offset
    return out


def _bleeding(view: perception.Comparison, spec: SceneSpec, target_color: str, footprint: np.ndarray,
              config: PerceptionCriticConfig) -> list[str]:
    """Colours of the blocks whose pixels were recoloured in place (a colour bled onto them). A block that moved leaves table behind; a stained one stays unlike the
    table (a bleed of a complementary colour is grey, not a hue: it is judged by distance
    from the table's colour around the block, after the editor's colour shift is undone)."""
    objects = np.logical_or.reduce([*view.blocks_before.values(), *view.blocks_after.values(),
                                    np.zeros(view.before.shape[:2], bool)])
    around = ~ndimage.binary_dilation(objects, iterations=2)
    after = _match_colours(view.after.astype(np.float32), view.before.astype(np.float32), around)
    bled = []
    for color, before in view.blocks_before.items():
        if color == target_color:
            continue
        before = before & ~footprint
        area = int(before.sum())
        if area < perception.MIN_BLOB_PIXELS:
            continue
        lost = before & ~ndimage.binary_dilation(view.blocks_after[color])
        if lost.sum() < max(perception.MOVE_MIN_CHANGED, config.bleed_fraction * area):
            continue
        ring = around & ndimage.binary_dilation(before, iterations=8)
        if ring.sum() < 8:
            continue
        table = np.median(after[ring], axis=0)
        # Stained: unlike the table, and not simply another block in front (a block that moved there).
        others = np.logical_or.reduce([m for c, m in view.blocks_after.items() if c != color])
        stained = lost & (np.abs(after - table).max(axis=-1) > config.artifact_min_diff) \
            & ~ndimage.binary_dilation(others)
        remaining = int((view.blocks_after[color] & ~footprint).sum())
        if stained.sum() >= max(perception.MOVE_MIN_CHANGED, config.bleed_fraction * area) \
                and remaining >= config.bleed_fraction * area \
                and not perception.block_moved(before, (view.blocks_after[color] & ~footprint) | stained):
            bled.append(color)
    return bled


def _chromaticity(image: np.ndarray) -> np.ndarray:
    """Each pixel's colour with its brightness divided out (r, g, b) / (r + g + b): shading and
    an editor's brightness change leave it, a colour mixed in moves it."""
    image = image.astype(np.float32)
    return image / np.maximum(image.sum(axis=-1, keepdims=True), 30.0)


def _moved_block(view: perception.Comparison, color: str) -> vision.Blob | None:
    """The moved block's own blob in the after image (its colour's largest component)."""
    parts = perception.blobs(view.blocks_after[color])
    return parts[0] if parts else None


def _stained_towards(view: perception.Comparison, target_color: str, footprint: np.ndarray,
                     config: PerceptionCriticConfig) -> list[str]:
    """Colours of the blocks onto whose half facing the moved block its colour bled.

    Judged against the block's own other half, so that what the editor does to the whole image
    (colour casts, hue shifts, re-encoding) cancels: per pixel, the change from the before image
    towards the moved block's colour (in chromaticity, as a share of the gap between the two
    colours); the facing half's median minus the far half's median must exceed `stain_shift`.
    A block that moved is not judged here (its pixels changed for another reason)."""
    blob = _moved_block(view, target_color)
    if blob is None:
        return []
    square = np.ones((3, 3), bool)
    objects = np.logical_or.reduce([*view.blocks_before.values(), *view.blocks_after.values()])
    around = ~ndimage.binary_dilation(objects, iterations=2)
    after = np.clip(_match_colours(view.after.astype(np.float32), view.before.astype(np.float32), around), 0, 255)
    cb, ca = _chromaticity(view.before), _chromaticity(after)
    core = ndimage.binary_erosion(blob.mask, square)
    source = np.median(ca[core if core.sum() >= perception.MIN_BLOB_PIXELS else blob.mask], axis=0)
    stained = []
    for color, mask in view.blocks_before.items():
        if color == target_color or mask.sum() < perception.MIN_BLOB_PIXELS:
            continue
        # Where two blocks meet, re-encoding mixes their colours: a block touching the moved one is not
        # judged, nor a block's pixels next to any other block.
        if (mask & ndimage.binary_dilation(blob.mask, square, iterations=2)).any():
            continue
        neighbours = np.logical_or.reduce([view.blocks_before[c] | view.blocks_after[c] for c in view.blocks_before
                                           if c not in (color, target_color)] + [blob.mask])
        region = ndimage.binary_erosion(mask, square) & ~ndimage.binary_dilation(neighbours, square, iterations=1)
        if region.sum() < 12 or view.moved(color, footprint):
            continue
        vs, us = np.nonzero(region)
        mv, mu = np.nonzero(mask)
        facing = (vs - mv.mean()) * (blob.v - mv.mean()) + (us - mu.mean()) * (blob.u - mu.mean()) >= 0
        if facing.sum() < 5 or (~facing).sum() < 5:
            continue
        gap = source[None, :] - cb[region]
        toward = ((ca[region] - cb[region]) * gap).sum(axis=1) / np.maximum((gap ** 2).sum(axis=1), 0.05 ** 2)
        # Beside another block (a tower, a row) re-encoding mixes more colour in: half as much again is asked.
        beside = (ndimage.binary_dilation(neighbours & ~blob.mask, square, iterations=2)
                  & ndimage.binary_erosion(mask, square)).any()
        if float(np.median(toward[facing]) - np.median(toward[~facing])) > config.stain_shift * (1.5 if beside else 1.0):
            stained.append(color)
    return stained


def _halo(view: perception.Comparison, target_color: str, config: PerceptionCriticConfig) -> bool:
    """Did the moved block's colour spread onto the table (or bin) around it? Pixels of its hue
    whose saturation rose by 0.15 or more since the before image, connected to it and more than
    a pixel away from it, cover more than `halo_share` of its own area (re-encoding and blur
    spread a colour by about a pixel)."""
    blob = _moved_block(view, target_color)
    if blob is None:
        return False
    square = np.ones((3, 3), bool)
    hue, sat, val = vision.hsv(view.after)
    sat_before = vision.hsv(view.before)[1]
    soft = (vision.hue_distance(hue, vision.PALETTE_HUES[target_color]) <= vision.HUE_TOLERANCE) & (sat >= 0.25) \
        & (val >= vision.MIN_VALUE) & ((sat - sat_before > 0.15) | blob.mask)
    labelled, _ = ndimage.label(soft, square)
    ids = np.unique(labelled[blob.mask])
    grown = np.isin(labelled, ids[ids > 0])
    spread = grown & ~ndimage.binary_dilation(blob.mask, square)
    return int(spread.sum()) > config.halo_share * blob.area


def _hidden_reference(view: perception.Comparison, before: _Components | None, color: str,
                      placed: np.ndarray) -> str | None:
    """The before image's component of this colour if, in the after image, the block just placed
    covers where it was (nothing of it is left in view), else None."""
    if before is None or not before.of(color):
        return None
    key = max(before.of(color), key=lambda k: before.blobs[k].area)
    near = ndimage.binary_dilation(placed, iterations=3)
    return key if (before.blobs[key].mask & near).any() else None


def _placement(camera, subgoal: Subgoal, spec: SceneSpec, after: _Components, view: perception.Comparison,
               before: _Components | None = None) -> str:
    """'' if the intended block's after position satisfies the relation, else why not.

    The after scene's positions are estimated from the (registered) image (blocks through
    their support, bins from their pale footprint) and judged by the relation table, the same
    geometry the teacher and the generator use.
    """
    target = spec.get(subgoal.obj)
    keys = after.of(target.color)
    if not keys:
        return f"the {target.words} is not visible in the after image"
    target_before = view.blocks_before[target.color]
    # The moved block is the component that overlaps its colour's old pixels least.
    key = min(keys, key=lambda k: (after.blobs[k].mask & target_before).sum() / after.blobs[k].area)
    state = SceneState()
    # The block just moved is seen whole (nothing rests on it yet): its centroid is the steadier
    # estimate on an editor's image, whose bottom edges blur into whatever lies beneath.
    state.positions[target.name] = list(vision.block_center_from_blob(camera, after.blobs[key], after.heights[key]))
    refs = [spec.get(r) for r in subgoal.reference]
    for ref in refs:
        if ref.kind == "bin":
            blob = perception.bin_regions(view.before, [b.color for b in spec.bins]).get(ref.color)
            if blob is None:
                return f"the {ref.words} is not visible"
            state.positions[ref.name] = list(perception.bin_center(camera, blob))
            # The bin's front wall hides the block's bottom edge: use its centroid on the bin floor.
            state.positions[target.name] = list(vision.block_center_from_blob(
                camera, after.blobs[key], BIN_FLOOR_Z + BLOCK_HALF))
            continue
        ref_keys = [k for k in after.of(ref.color) if k != key]
        hidden = _hidden_reference(view, before, ref.color, after.blobs[key].mask) if not ref_keys else None
        if not ref_keys and hidden is None:
            return f"the reference {ref.words} is not visible in the after image"
        if not ref_keys:
            # Hidden behind the block placed on it (a strip a few pixels tall, smeared away by
            # re-encoding): it stands where the before image showed it.
            state.positions[ref.name] = list(vision.block_center_from_bottom(
                camera, before.blobs[hidden], before.heights[hidden]))
            continue
        ref_key = max(ref_keys, key=lambda k: after.blobs[k].area)
        state.positions[ref.name] = list(vision.block_center_from_bottom(
            camera, after.blobs[ref_key], after.heights[ref_key]))
        if after.supports[key] == ref_key:
            # Seen resting on the reference: of the two estimates of its place (centroid, bottom
            # edge), the one the tower check agreed with is the one to judge "on" by.
            blob, z = after.blobs[key], after.heights[key]
            state.positions[target.name] = list(min(
                (vision.block_center_from_blob(camera, blob, z), vision.block_center_from_bottom(camera, blob, z)),
                key=lambda p: float(np.linalg.norm(p[:2] - np.asarray(state.positions[ref.name][:2])))))
    if relation_holds(spec, state, subgoal):
        return ""
    d = 100 * (np.asarray(state.positions[target.name]) - np.asarray(state.positions[refs[0].name]))
    where = RELATIONS[subgoal.relation].explicit([r.words for r in refs])
    return (f"the {target.words} is not {where} "
            f"(seen at {d[0]:+.1f}, {d[1]:+.1f}, {d[2]:+.1f} cm from the {refs[0].words})")

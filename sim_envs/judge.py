"""The privileged simulation judge: scores accepted subgoal images, for any generator.

A diffusers model, an HTTP editor or a user's class returns pixels and no ground truth. To
score guidance from such generators, the benchmark asks a judge that is privileged (it
reads the teacher's goal and the exact simulator state, which no agent may) and is used for
scoring only: nothing it says reaches the planner, the critic or the executor.

For one accepted image of one step it renders, with the simulator, the scene the teacher
wants after that step (the goal relation applied to the exact state before the step,
settled by physics) and compares perception's estimate of both images: per block colour,
the colour's pixels (vision.segment, the perception the critic and executor use), their
centroid and their area, cleaned of blended edges by the shared perception module
(perception.py, as the critic and the executor do). The image is right when every colour sits where the goal scene
has it (within `tolerance_px`, scaled to the image size) with a similar pixel count: the
intended change was made and nothing else changed. A wrong block moved, a block short of
its target, a bystander nudged, a duplicated or missing block, blotches of colours no object
has all show; what does not is a
change invisible to perception, which is why `bench` also reports, for the simulated
generator, the judge's agreement with the exact ground truth (its fault labels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interleave_robot.errors import ConfigError
from interleave_robot.sim_envs import perception, vision
from interleave_robot.sim_envs.placement import apply_subgoal
from interleave_robot.sim_envs.scene import SceneSpec, SceneState

REFERENCE_SIZE = 128  # tolerances are given in pixels of a 128 px image and scale with the size


@dataclass
class JudgeConfig:
    tolerance_px: float = 3.0  # centroid distance allowed per colour (at 128 px)
    area_ratio: float = 2.5  # pixel counts may differ by this factor (blur and JPEG thin small blocks)
    min_area: int = 6  # fewer pixels than this (at 128 px) count as "colour absent"
    blotch_pixels: int = 12  # pixels far from the goal scene's colour, away from block edges: artifacts
    blotch_level: float = 60.0  # ... by more than this (grey levels, any channel)

    def __post_init__(self):
        if not self.tolerance_px > 0 or not self.area_ratio >= 1 or self.min_area < 1:
            raise ConfigError(f"JudgeConfig needs tolerance_px > 0, area_ratio >= 1, min_area >= 1, got {self}")


@dataclass
class JudgeVerdict:
    right: bool
    reason: str

    def to_dict(self) -> dict:
        return {"right": self.right, "reason": self.reason}


class SimulationJudge:
    """Privileged, scoring only. Holds a renderer (a SimulatedGenerator's, fault-free) for goal scenes."""

    def __init__(self, config: JudgeConfig | None = None):
        from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator

        self.config = config or JudgeConfig()
        self._renderer = SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))

    def goal_image(self, spec: SceneSpec, source: SceneState, subgoal) -> np.ndarray:
        """The scene the teacher wants after `subgoal` from `source`, rendered after settling."""
        return self._renderer.render_state(spec, apply_subgoal(spec, source, subgoal))[0]

    def score(self, image: np.ndarray, spec: SceneSpec, source: SceneState, subgoal) -> JudgeVerdict:
        """Is `image` the teacher's goal scene of this step (as perception sees both)?"""
        goal = self.goal_image(spec, source, subgoal)
        if image is None or image.shape != goal.shape:
            shape = None if image is None else image.shape
            return JudgeVerdict(False, f"image of shape {shape}, the camera's is {goal.shape}")
        return compare(image, goal, spec, self.config)

    def close(self) -> None:
        self._renderer.close()


def compare(image: np.ndarray, goal: np.ndarray, spec: SceneSpec, config: JudgeConfig) -> JudgeVerdict:
    """Perception's estimate of `image` against the goal render, colour by colour, after undoing
    the image's whole-frame misregistration (perception.register: an editor's shift moves every
    object alike and is not a scene change)."""
    image = perception.align(image, perception.register(goal, image))
    scale = image.shape[1] / REFERENCE_SIZE
    tolerance, min_area = config.tolerance_px * scale, max(1, int(round(config.min_area * scale * scale)))
    colors = sorted({b.color for b in spec.blocks})
    seen, wanted = vision.segment(image).blocks, vision.segment(goal).blocks
    problems = []
    blotches = _blotches(image, goal, [wanted[c] | seen[c] for c in colors], min_area, config.blotch_level)
    if blotches > config.blotch_pixels * scale * scale:
        problems.append(f"{blotches} px differ strongly from the goal scene away from block edges (artifacts)")
    for color in colors:
        # Cleaned as the critic and executor clean them: blended edges between two blocks
        # (orange beside green reads yellow after blur and JPEG) are not a block.
        have = vision.merged_blob(perception.clean(seen[color], min_area), min_area)
        want = vision.merged_blob(perception.clean(wanted[color], min_area), min_area)
        if want is None and have is None:
            continue
        if have is None or want is None:
            problems.append(f"{color}: {'missing' if have is None else 'present where the goal scene has none'}")
            continue
        off = float(np.hypot(have.u - want.u, have.v - want.v))
        ratio = max(have.area, want.area) / max(min(have.area, want.area), 1)
        if off > tolerance:
            problems.append(f"{color}: {off:.1f} px from the goal scene's position")
        elif ratio > config.area_ratio:
            problems.append(f"{color}: {have.area} px against {want.area} in the goal scene")
    if problems:
        return JudgeVerdict(False, "; ".join(problems))
    return JudgeVerdict(True, "every block where the goal scene has it")


def _blotches(image: np.ndarray, goal: np.ndarray, block_masks: list[np.ndarray], min_area: int,
              level: float = 60.0) -> int:
    """Pixels whose colour is far (> `level` in some channel) from the goal scene's, in regions of
    at least `min_area`, ignoring a 2 px band around block edges (where blur and a sub-pixel
    misregistration legitimately differ): smudges, blotches, colour bled onto a neighbour."""
    from scipy import ndimage

    diff = np.abs(image.astype(np.int16) - goal.astype(np.int16)).max(axis=-1) > level
    edges = np.zeros(diff.shape, bool)
    for mask in block_masks:
        edges |= ndimage.binary_dilation(mask, iterations=2) & ~ndimage.binary_erosion(mask, iterations=2)
    return int(perception.clean(diff & ~edges, min_area, open_lines=True).sum())

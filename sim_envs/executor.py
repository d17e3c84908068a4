"""Subgoal executor: turns a subgoal image into gripper motion, by looking, not by peeking.

`SubgoalExecutor(ExecutorConfig()).execute(env, subgoal_image, instruction, obs, info)` compares
the current camera frame with the subgoal image, registered onto the frame first (an editor's
image is shifted, blurred and re-encoded: perception.py, shared with the perception critic):

1. which block must move: the colour that moved between the two images (perception.block_moved;
   the instruction, parsed against the scene's object list, breaks ties);
2. where it is now: its pixels in the current frame, lifted to 3D with depth;
3. where it must go: its pixels in the subgoal image, back-projected through the camera onto
   the support seen beneath it there: the block under it (whose current position comes from
   depth, so the tower is built on where that block really is), a bin, or the table;
4. scripted pick-and-place through `env.step` only (approach, descend, close, lift, carry,
   descend, open, retreat), closed-loop on the gripper position in the observation;
5. re-observe: the block must now be where the subgoal image shows it.

It uses the Gymnasium API only: `obs["rgb"]`, `obs["depth"]`, `obs["gripper"]`, `info["camera"]`,
`info["inventory"]` and `env.step`; never `env.unwrapped`, the task's goal, the teacher's plan or
the simulator state. Without the latest (obs, info) it takes one look step (no motion) to get
them. Anything it cannot do (object not found, ambiguous, unreachable) ends the step with
success False and the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interleave_robot.errors import ConfigError

from interleave_robot.errors import ImageError
from interleave_robot.images import check_image

from interleave_robot.sim_envs import perception, vision
from interleave_robot.sim_envs.language import PromptParseError, parse_instruction
from interleave_robot.sim_envs.perception import BIN_FLOOR_Z
from interleave_robot.sim_envs.scene import BIN_HALF, BIN_WALL_HEIGHT, BLOCK_HALF, FINGER_OFFSET, FINGER_THICK, GRIPPER_HOME, \
    spec_from_inventory

FINGER_BELOW_BODY = 0.008  # grasp with the gripper body this far below the block centre
FINGER_TIP_BELOW_BODY = 0.01  # finger tips sit 1 cm below the gripper body's origin


@dataclass
class ExecutorConfig:
    """Motion and perception settings (metres, env steps, pixels)."""

    travel_clearance: float = 0.10  # carry height above the highest point on the way
    position_tolerance: float = 0.004  # a waypoint is reached within this distance
    max_waypoint_steps: int = 120  # env steps allowed to reach one waypoint
    grip_steps: int = 8  # env steps to close or open the fingers (they take ~3)
    release_drop: float = 0.004  # let go this far above the support
    success_pixels: float = 3.0  # final block centroid within this of the subgoal image's (registered)
    gain: float = 1.0  # proportional gain of the waypoint controller (per MAX_DELTA)

    def __post_init__(self):
        for name, value in (("travel_clearance", self.travel_clearance),
                            ("position_tolerance", self.position_tolerance),
                            ("success_pixels", self.success_pixels), ("gain", self.gain),
                            ("release_drop", self.release_drop + 1e-9)):
            if not value > 0:
                raise ConfigError(f"ExecutorConfig.{name} must be > 0, got {value}")
        for name, value in (("max_waypoint_steps", self.max_waypoint_steps), ("grip_steps", self.grip_steps)):
            if value < 1:
                raise ConfigError(f"ExecutorConfig.{name} must be >= 1, got {value}")


@dataclass
class ExecutionResult:
    success: bool
    reason: str
    moved_object: str | None = None
    target_xyz: list[float] | None = None
    env_steps: int = 0
    obs: dict | None = field(default=None, repr=False)  # the last Gymnasium observation seen
    info: dict | None = field(default=None, repr=False)  # ... and its info


class _StepFailure(Exception):
    """Internal: ends an execution early with a reason (never escapes execute())."""


class SubgoalExecutor:
    """Follows one subgoal image with scripted pick-and-place."""

    def __init__(self, config: ExecutorConfig | None = None):
        self.config = config or ExecutorConfig()

    def execute(self, env, subgoal_image: np.ndarray, instruction: str = "", obs: dict | None = None,
                info: dict | None = None) -> ExecutionResult:
        """Move the block the subgoal image shows moved to where it shows it. `obs`, `info`: the
        latest Gymnasium observation and info (None: one look step gets them). Never raises for
        a scene it cannot handle (success False and the reason instead)."""
        run = _PickPlaceMotion(env, self.config, obs, info)
        moved, target = None, None
        try:
            plan = run.perceive(subgoal_image, instruction)
            moved, target = plan.name, [float(v) for v in plan.place]
            run.pick_and_place(plan)
            ok, why = run.verify(plan)
            return run.result(ok, why, moved, target)
        except _StepFailure as exc:
            return run.result(False, str(exc), moved, target)
        except ValueError as exc:  # geometry on a frame it cannot interpret (e.g. a ray missing the table)
            return run.result(False, f"cannot interpret the images: {exc}", moved, target)


@dataclass
class _Plan:
    name: str  # object name (from the scene's list) of the block to move
    color: str
    pick: np.ndarray  # block centre now
    place: np.ndarray  # block centre wanted
    support: str  # "table", "bin", or the colour of the block beneath
    goal_blob: vision.Blob  # the block in the subgoal image
    grasp_offset: float = 0.0  # y shift of the gripper at the grasp (clears obstacles)


class _PickPlaceMotion:
    """One execution: the env, the latest obs/info (camera, inventory), and the env-step count."""

    def __init__(self, env, config: ExecutorConfig, obs: dict | None, info: dict | None):
        from interleave_robot.sim_envs.tabletop_env import MAX_DELTA

        self.env = env
        self.config = config
        self.max_delta = MAX_DELTA
        self.steps = 0
        self.obs, self.info = obs, info
        if obs is None or info is None:
            self.step([0.0, 0.0, 0.0, -1.0])  # look: no motion, fingers open (as they rest between steps)
        self.camera = self.info["camera"]
        self.spec = spec_from_inventory(self.info["inventory"], self.camera.width, self.camera.height)
        self.gripper = np.asarray(self.obs["gripper"], dtype=float)
        self.mocap = self.gripper[:3].copy()  # at rest, the mocap target and the gripper coincide

    def result(self, ok: bool, why: str, moved, target) -> ExecutionResult:
        return ExecutionResult(ok, why, moved, target, self.steps, self.obs, self.info)

    # --- perception ---------------------------------------------------------------------------
    def perceive(self, subgoal_image: np.ndarray, instruction: str) -> _Plan:
        frame, depth, camera = self.obs["rgb"], self.obs["depth"], self.camera
        try:
            check_image(subgoal_image, "subgoal image")
        except ImageError as exc:
            raise _StepFailure(str(exc)) from None
        if subgoal_image.shape != frame.shape:
            raise _StepFailure(f"subgoal image is {subgoal_image.shape[1]}x{subgoal_image.shape[0]}, the camera "
                               f"frame {frame.shape[1]}x{frame.shape[0]}")
        colors = sorted({b.color for b in self.spec.blocks})
        view = perception.compare(frame, subgoal_image, colors, [b.color for b in self.spec.bins])
        now, goal = view.blocks_before, view.blocks_after
        color = self._moved_color(view, instruction, colors)
        name = self._name_of(color, instruction)
        words = self.spec.get(name).words
        now_parts = perception.blobs(now[color])
        goal_all = {f"{c}#{i}": b for c, m in goal.items() for i, b in enumerate(perception.blobs(m))}
        goal_parts = [b for k, b in goal_all.items() if k.startswith(color + "#")]
        if not now_parts:
            raise _StepFailure(f"object not found: no {words} in the camera frame")
        if not goal_parts:
            raise _StepFailure(f"object missing: the subgoal image shows no {words}")
        # With two blocks of a colour, the moving one left its place / arrived somewhere new.
        src = min(now_parts, key=lambda b: (b.mask & goal[color]).sum() / b.area)
        dst = min(goal_parts, key=lambda b: (b.mask & now[color]).sum() / b.area)
        if len(now_parts) > 1 and (dst.mask & now[color]).sum() > 0.1 * dst.area:
            # It arrived touching its twin (same colour): keep only the pixels that are new.
            dst = vision.merged_blob(dst.mask & ~now[color]) or dst
            goal_all = {k: (dst if b.mask[dst.mask].any() and b.area >= dst.area else b) for k, b in goal_all.items()}
        pick = vision.block_center_from_depth(camera, src.mask, depth)
        place, support = self._place(camera, depth, goal_all, dst, now)
        offset = self._grasp_offset(pick, self._obstacles(camera, depth, now, src))
        return _Plan(name, color, pick, place, support, dst, offset)

    def _moved_color(self, view: perception.Comparison, instruction: str, colors: list[str]) -> str:
        moved = [c for c in colors if view.moved(c)]
        if not moved:
            raise _StepFailure("the subgoal image shows no block moved")
        changed = {c: int((view.blocks_before[c] ^ view.blocks_after[c]).sum()) for c in moved}
        wanted = self._instructed_color(instruction)
        if wanted is not None:
            if wanted in moved:
                return wanted
            shown = max(moved, key=lambda c: changed[c])
            raise _StepFailure(f"wrong object: the subgoal image moves the {shown} block, the instruction "
                               f"asks for the {wanted} one")
        # No usable instruction: blocks covered by the moved one change too; the mover changes most.
        return max(moved, key=lambda c: changed[c])

    def _instructed_color(self, instruction: str) -> str | None:
        try:
            return self.spec.get(parse_instruction(instruction, self.spec).obj).color
        except PromptParseError:
            return None

    def _name_of(self, color: str, instruction: str) -> str:
        names = [b.name for b in self.spec.blocks if b.color == color]
        try:
            said = parse_instruction(instruction, self.spec).obj
        except PromptParseError:
            said = None
        return said if said in names else names[0]

    def _place(self, camera, depth, parts, dst, now):
        """Where the block's centre must go, and on what, from the subgoal image's components."""
        key = next((k for k, b in parts.items() if b is dst), None)
        _, supports = vision.stack_structure(camera, parts)
        under = supports[key] if key is not None else None
        if under is not None:
            # Build on where the block beneath really is now (depth), not where the image says.
            under_color = under.split("#")[0]
            below = perception.blobs(now[under_color])
            if not below:
                raise _StepFailure(f"the {under_color} block to stack on is not in the camera frame")
            base = vision.block_center_from_depth(camera, max(below, key=lambda b: b.area).mask, depth)
            return base + [0.0, 0.0, 2 * BLOCK_HALF], under_color
        for center in self._bins(camera):
            spot = vision.block_center_from_blob(camera, dst, BIN_FLOOR_Z + BLOCK_HALF)
            if np.all(np.abs(spot[:2] - center[:2]) < BIN_HALF):
                # Keep clear of the walls whatever the image's precision.
                inner = BIN_HALF - BLOCK_HALF - 0.006
                spot[:2] = center[:2] + np.clip(spot[:2] - center[:2], -inner, inner)
                return spot, "bin"
        return vision.block_center_from_bottom(camera, dst, BLOCK_HALF), "table"

    def _bins(self, camera) -> list[np.ndarray]:
        """Centres of the bins in the current frame (perception.bin_center, as the critic sees them)."""
        regions = perception.bin_regions(self.obs["rgb"], [b.color for b in self.spec.bins])
        return [perception.bin_center(camera, r) for r in regions.values()]

    def _obstacles(self, camera, depth, now: dict, skip: vision.Blob) -> list[tuple[float, float, float, float, float]]:
        """Boxes the open fingers must not come down on: (cx, cy, half x, half y, top z):
        the other blocks (from depth) and the bins' walls."""
        boxes = []
        for mask in now.values():
            for blob in perception.blobs(mask):
                if (blob.mask & skip.mask).any():
                    continue
                c = vision.block_center_from_depth(camera, blob.mask, depth)
                boxes.append((c[0], c[1], BLOCK_HALF, BLOCK_HALF, c[2] + BLOCK_HALF))
        for cx, cy, _ in self._bins(camera):
            for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                hx, hy = (0.004, BIN_HALF) if sx else (BIN_HALF, 0.004)
                boxes.append((cx + sx * BIN_HALF, cy + sy * BIN_HALF, hx, hy, BIN_WALL_HEIGHT))
        return boxes

    def _grasp_offset(self, pick: np.ndarray, boxes) -> float:
        """A y shift of the gripper (the fingers close along y and centre the block) that keeps
        both open fingers off neighbouring blocks and bin walls; 0 if none is needed or found."""
        tip_z = pick[2] - FINGER_BELOW_BODY - FINGER_TIP_BELOW_BODY
        for offset in (0.0, 0.004, -0.004, 0.008, -0.008, 0.012, -0.012, 0.016, -0.016):
            fingers = [(pick[0], pick[1] + offset + side * FINGER_OFFSET) for side in (-1, 1)]
            if not any(abs(fx - cx) < hx + 0.01 + 0.003 and abs(fy - cy) < hy + FINGER_THICK + 0.003
                       and top > tip_z for fx, fy in fingers for cx, cy, hx, hy, top in boxes):
                return offset
        return 0.0

    # --- motion -------------------------------------------------------------------------------
    def pick_and_place(self, plan: _Plan) -> None:
        c = self.config
        travel = max(plan.pick[2], plan.place[2]) + BLOCK_HALF + c.travel_clearance
        grasp = plan.pick - [0.0, 0.0, FINGER_BELOW_BODY]
        release = plan.place + [0.0, 0.0, c.release_drop - FINGER_BELOW_BODY]
        if plan.support == "bin":
            # Opening fingers (8 cm apart) would hit the bin's walls: let go above them.
            release[2] = max(release[2], BIN_WALL_HEIGHT + FINGER_TIP_BELOW_BODY + 0.004)
        grasp[1] += plan.grasp_offset
        self.grip(False)
        self.move_to([*grasp[:2], travel], False)
        self.move_to(grasp, False)
        self.grip(True)
        self.move_to([*grasp[:2], travel], True)
        self.move_to([*plan.place[:2], travel], True)
        self.move_to(release, True)
        self.grip(False)
        self.move_to([*plan.place[:2], travel], False)
        self.move_to(GRIPPER_HOME, False)

    def move_to(self, target, closed: bool) -> None:
        """Drive the mocap target to `target` (the env moves it by action * MAX_DELTA per
        step), then wait for the welded gripper to arrive. Steering the target, not the lagging
        body, keeps the gripper from overshooting into the table."""
        target = np.asarray(target, dtype=float)
        grip = 1.0 if closed else -1.0
        for _ in range(self.config.max_waypoint_steps):
            error = target - self.mocap
            if np.linalg.norm(error) < 1e-6 and np.linalg.norm(target - self.gripper[:3]) < self.config.position_tolerance:
                return
            delta = np.clip(self.config.gain * error / self.max_delta, -1.0, 1.0)
            self.step([*delta, grip])
            self.mocap = self.mocap + delta * self.max_delta
        if np.linalg.norm(target - self.gripper[:3]) > 0.015:
            raise _StepFailure(f"gripper could not reach {np.round(target, 3).tolist()} "
                               f"(stopped at {np.round(self.gripper[:3], 3).tolist()})")

    def grip(self, closed: bool) -> None:
        for _ in range(self.config.grip_steps):
            self.step([0.0, 0.0, 0.0, 1.0 if closed else -1.0])

    def step(self, action) -> None:
        self.obs, _, _, truncated, self.info = self.env.step(np.asarray(action, dtype=np.float32))
        self.steps += 1
        self.gripper = np.asarray(self.obs["gripper"], dtype=float)
        if truncated:
            raise _StepFailure(f"the episode ran out of env steps after {self.steps} steps of this subgoal")

    # --- check --------------------------------------------------------------------------------
    def verify(self, plan: _Plan) -> tuple[bool, str]:
        """Re-observe: the block must be where the subgoal image shows it (in the bin, for bins).
        The goal blob is in the registered subgoal image, i.e. in the camera's own pixel frame."""
        frame, depth = self.obs["rgb"], self.obs["depth"]
        mask = perception.clean(vision.color_masks(frame, [plan.color])[plan.color])
        parts = perception.blobs(mask)
        words = self.spec.get(plan.name).words
        if not parts:
            return False, f"the {words} is no longer visible after the move"
        best = min(parts, key=lambda b: np.hypot(b.u - plan.goal_blob.u, b.v - plan.goal_blob.v))
        off = float(np.hypot(best.u - plan.goal_blob.u, best.v - plan.goal_blob.v))
        if plan.support == "bin":
            pos = vision.block_center_from_depth(self.camera, best.mask, depth)
            inside = any(np.all(np.abs(pos[:2] - c[:2]) < BIN_HALF - 0.004) for c in self._bins(self.camera))
            if inside:
                return True, f"put the {words} in the bin the subgoal image shows"
            return False, f"the {words} is not inside the bin (it ended at {np.round(pos, 3).tolist()})"
        where = "the table" if plan.support == "table" else f"the {plan.support} block"
        if off > self.config.success_pixels:
            return False, (f"the {words} ended {off:.1f} px from where the subgoal image shows it "
                           f"(placed on {where})")
        return True, f"moved the {words} onto {where}; it is {off:.1f} px from the subgoal image's position"

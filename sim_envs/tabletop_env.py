"""TabletopEnv: a Gymnasium env of the tabletop scene with one task family.

Observation: {"rgb": (H, W, 3) uint8, "depth": (H, W) float32 metres, "gripper": float32[4]
(x, y, z, finger gap in metres)} from the fixed "front" camera.
Action: float32[4] in [-1, 1]: (dx, dy, dz) * MAX_DELTA metres move the gripper's mocap
target; grip > 0 closes the fingers, <= 0 opens them. Each step runs SUBSTEPS physics steps.
Reward: the fraction of goal relations that hold (`reward_progress`) plus 1 on success
(`reward_success`); `terminated` on success; `info["is_success"]` and `info["task"]`.
reset(options=): {"task": Task (replay a task whose spec has "initial_state"), "steps": int,
"colors": [names]}.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from interleave_robot.types import CameraModel, Observation, Task

from interleave_robot.sim_envs.lazy_observation import LazyObservation
from interleave_robot.sim_envs.rendering import SceneRenderer, import_mujoco
from interleave_robot.sim_envs.scene import (CAMERA_NAME, FINGER_CLOSED, FINGER_OPEN_GAP, SceneSpec, SceneState, SimSnapshot,
                                             body_ids, build_mjcf, camera_model, inventory_of, park_gripper, read_state,
                                             write_state)
from interleave_robot.sim_envs.tasks import TaskOptions, check_family, goal_of, goal_progress, sample_task

MAX_DELTA = 0.015  # metres per step for an action component of 1
SUBSTEPS = 10  # physics steps (2 ms each) per env step
RESET_SETTLE_STEPS = 20
MAX_DEPTH = 10.0  # metres; depth beyond (nothing in this scene) is clipped
TARGET_BOUNDS = ((-0.35, 0.35), (-0.28, 0.28), (0.0, 0.40))  # where the mocap target may go


@dataclass
class EnvConfig:
    family: str = "stack"
    image_size: int = 128
    substeps: int = SUBSTEPS
    render_mode: str | None = None
    render_on_demand: bool = True  # step/reset frames rendered when read (lazy_observation.py), not always

    def __post_init__(self):
        check_family(self.family)
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be in 32..1024, got {self.image_size}")
        if not 1 <= self.substeps <= 100:
            raise ValueError(f"substeps must be in 1..100, got {self.substeps}")
        if self.render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {self.render_mode!r}")


class TabletopEnv(gym.Env):
    """Multi-step tabletop manipulation with a mocap-driven parallel gripper."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, family: str = "stack", image_size: int = 128, substeps: int = SUBSTEPS,
                 render_mode: str | None = None, render_on_demand: bool = True):
        self.config = EnvConfig(family, image_size, substeps, render_mode, render_on_demand)
        self.render_mode = render_mode
        size = image_size
        self.observation_space = spaces.Dict({
            "rgb": spaces.Box(0, 255, (size, size, 3), np.uint8),
            "depth": spaces.Box(0.0, MAX_DEPTH, (size, size), np.float32),
            "gripper": spaces.Box(np.array([-0.5, -0.5, -0.1, 0.0], np.float32),
                                  np.array([0.5, 0.5, 0.6, 0.1], np.float32), dtype=np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._mujoco = import_mujoco()
        self.model = self.data = None
        self._renderer: SceneRenderer | None = None
        self.scene_spec: SceneSpec | None = None
        self.task: Task | None = None
        self._goal = []
        self._scratch = None  # MjData for drawing the frame of an earlier tick
        self._pending: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id -> unread LazyObservation
        self._shown: tuple[np.ndarray, dict] | None = None  # (integration state, {"rgb"/"depth": frame}) drawn last
        self._camera = None  # the fixed camera's CameraModel, computed once per reset

    # --- model management -------------------------------------------------------------------
    def _load(self, spec: SceneSpec) -> None:
        """(Re)build the MuJoCo model when the scene's contents change; reuse it otherwise."""
        if spec == self.scene_spec and self.model is not None:
            return
        for obs in list(self._pending.values()):  # frames of the old model are drawn before it goes
            obs.materialize()
        self._pending = weakref.WeakValueDictionary()
        self._scratch = self._shown = None
        if self._renderer is not None:
            self._renderer.close()
        self.model = self._mujoco.MjModel.from_xml_string(build_mjcf(spec))
        self.data = self._mujoco.MjData(self.model)
        self._renderer = SceneRenderer(self.model, spec.image_width, spec.image_height)
        self.scene_spec = spec
        self._mocap = self.model.body("gripper_mocap").mocapid[0]
        self._gripper_body = self.model.body("gripper").id
        self._fingers = [self.model.joint(n).qposadr[0] for n in ("finger_left", "finger_right")]
        self._bodies = body_ids(self.model, spec)
        self._state_size = self._mujoco.mj_stateSize(self.model, self._mujoco.mjtState.mjSTATE_INTEGRATION)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        task = options.pop("task", None)
        if task is not None:
            if not isinstance(task, Task) or not task.spec or "initial_state" not in task.spec:
                raise ValueError("options['task'] must be a Task whose spec has 'initial_state' (from sample_task)")
            state = SceneState.from_dict(task.spec["initial_state"])
            if task.spec["family"] != self.config.family:
                raise ValueError(f"task family {task.spec['family']!r} does not match env family "
                                 f"{self.config.family!r}")
        else:
            unknown = sorted(set(options) - {"steps", "colors"})
            if unknown:
                raise ValueError(f"unknown reset option(s) {unknown}; known: task, steps, colors")
            opts = TaskOptions(steps=options.get("steps"), colors=options.get("colors"),
                               image_size=self.config.image_size)
            task, state = sample_task(self.config.family, self.np_random, opts)
        self.task = task
        self._goal = goal_of(task.spec)
        self._load(SceneSpec.from_dict(task.spec["scene"]))
        mj = self._mujoco
        mj.mj_resetData(self.model, self.data)
        write_state(self.model, self.data, self.scene_spec, state)
        park_gripper(self.model, self.data)
        mj.mj_forward(self.model, self.data)
        mj.mj_step(self.model, self.data, nstep=RESET_SETTLE_STEPS)
        mj.mj_kinematics(self.model, self.data)
        self._shown = None
        # The camera is fixed to the world: its pose is the same after every step of this scene.
        self._camera = camera_model(self.model, self.data, self.scene_spec.image_width, self.scene_spec.image_height)
        obs = self._obs()
        return obs, self._info()

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (4,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 4 finite floats, got shape {action.shape}")
        if self.model is None:
            raise RuntimeError("call reset() before step()")
        action = np.clip(action, -1.0, 1.0)
        target = self.data.mocap_pos[self._mocap] + action[:3] * MAX_DELTA
        for i, (lo, hi) in enumerate(TARGET_BOUNDS):
            target[i] = min(max(target[i], lo), hi)
        self.data.mocap_pos[self._mocap] = target
        self.data.ctrl[:] = FINGER_CLOSED if action[3] > 0 else 0.0
        self._mujoco.mj_step(self.model, self.data, nstep=self.config.substeps)
        # mj_step leaves body poses computed before its last substep; bring them to the final
        # qpos (the next mj_step recomputes them anyway), so frames drawn later from a saved
        # state are the same frames.
        self._mujoco.mj_kinematics(self.model, self.data)
        info = self._info()
        reward = info["reward_progress"] + info["reward_success"]
        return self._obs(), float(reward), bool(info["is_success"]), False, info

    # --- views --------------------------------------------------------------------------------
    def _gripper(self) -> np.ndarray:
        pos = self.data.xpos[self._gripper_body]
        left, right = (float(self.data.qpos[a]) for a in self._fingers)
        closed = (left + right) / 2  # the mean of the two fingers' slides
        out = np.empty(4, dtype=np.float32)
        out[:3] = pos
        out[3] = FINGER_OPEN_GAP - 2 * closed
        return out

    def _obs(self) -> dict:
        if not self.config.render_on_demand:
            return self._rendered_obs()
        pose = self._pose()
        obs = LazyObservation({"gripper": self._gripper()},
                              {"rgb": lambda: self._frame(pose, False), "depth": lambda: self._frame(pose, True)})
        self._pending[id(obs)] = obs
        return obs

    def _rendered_obs(self) -> dict:
        pose = self._pose()
        return {"rgb": self._frame(pose, False), "depth": self._frame(pose, True), "gripper": self._gripper()}

    def _pose(self) -> np.ndarray:
        """Everything the frame depends on (MuJoCo's integration state: time, qpos, qvel, mocap, ...)."""
        state = np.empty(self._state_size)
        self._mujoco.mj_getState(self.model, self.data, state, self._mujoco.mjtState.mjSTATE_INTEGRATION)
        return state

    def _frame(self, pose: np.ndarray, depth: bool) -> np.ndarray:
        """The RGB or depth frame of the step whose integration state is `pose` (a copy of the
        frame drawn last when it is of the same state: the executor's last look, the robot's
        report after a step and the episode's final image are one state)."""
        key = "depth" if depth else "rgb"
        shown = self._shown
        if shown is not None and key in shown[1] and np.array_equal(shown[0], pose):
            return shown[1][key].copy()
        frame = self._draw(pose, depth)
        if shown is None or not np.array_equal(shown[0], pose):
            shown = self._shown = (pose.copy(), {})
        shown[1][key] = frame.copy()
        return frame

    def _draw(self, pose: np.ndarray, depth: bool) -> np.ndarray:
        data = self.data
        if not np.array_equal(pose, self._pose()):
            # The env moved on since that step: draw its state in a scratch copy.
            mj = self._mujoco
            if self._scratch is None:
                self._scratch = mj.MjData(self.model)
            data = self._scratch
            mj.mj_setState(self.model, data, pose, mj.mjtState.mjSTATE_INTEGRATION)
            mj.mj_kinematics(self.model, data)
            mj.mj_camlight(self.model, data)
        if depth:
            return np.clip(self._renderer.depth(data, CAMERA_NAME), 0.0, MAX_DEPTH)
        return self._renderer.rgb(data, CAMERA_NAME)

    def _info(self) -> dict:
        done = goal_progress(self.scene_spec, self.state(), self._goal)
        success = done == len(self._goal)
        return {"is_success": success, "task": self.task, "relations_satisfied": done,
                "relations_total": len(self._goal), "reward_progress": done / len(self._goal),
                "reward_success": 1.0 if success else 0.0,
                # What a robot knows without privilege: its camera and the scene's object list.
                "camera": self.camera, "inventory": inventory_of(self.scene_spec)}

    def state(self) -> SceneState:
        return read_state(self.model, self.data, self.scene_spec, self._bodies)

    def snapshot(self) -> SimSnapshot:
        """The privileged physics state behind the current frame (objects only)."""
        return SimSnapshot(self.scene_spec, self.state())

    def is_success(self) -> bool:
        return bool(self._info()["is_success"])

    @property
    def camera(self):
        """The camera model (a fresh copy each time: callers may keep or change theirs)."""
        c = self._camera
        return CameraModel(c.width, c.height, c.fx, c.fy, c.cx, c.cy, [list(row) for row in c.world_from_camera])

    def observation(self) -> Observation:
        """The current frame as the core library's Observation (image, depth, camera, snapshot)."""
        obs = self._rendered_obs()
        return Observation(image=obs["rgb"], depth=obs["depth"], camera=self.camera, state=self.snapshot(),
                           metadata={"gripper": obs["gripper"].tolist()}, inventory=inventory_of(self.scene_spec))

    def render(self):
        if self.render_mode == "rgb_array" and self.model is not None:
            return self._frame(self._pose(), False)
        return None

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()

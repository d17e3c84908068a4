"""The process's simulator cache: one Gymnasium env per (task family, image size), reused; one
scene simulator per scene (and thread), shared by every simulated generator and the judge.

    from interleave_robot.sim_envs.env_cache import cached_env, cached_scene, close_cached_envs
    env = cached_env("stack")          # built on first use, the same object afterwards
    env.reset(seed=3)
    image, settled = cached_scene(spec).render(state, settle_steps=150)

Building an env compiles a MuJoCo model and opens a GL context (tens of milliseconds, and a
context per env): episode runners, bench workers, training's simulation and step scoring
all take their envs from here instead of keeping caches of their own. Every cached env is
closed once, deterministically, by `close_cached_envs()` (idempotent), which also runs at
interpreter exit before module teardown, so no GL context is left for the garbage collector
to free late (the source of `Exception ignored ... EGLError` tracebacks at exit).

A `SceneSim` (`cached_scene(spec)`) is the MuJoCo model, data and renderer of one scene, as
the simulated generator and the privileged judge use them: set a state, settle it by physics,
render the front camera. Its output is a pure function of (scene, state, settle steps,
duplicate), so it remembers its last renders: the judge's goal scene of a step is the
generator's fault-free render of it, and a retried step re-renders the same intended state.
Before, the generator and the judge each built a model and a GL context for every new scene
and re-simulated those states.

Not thread-safe by design: an env is a single-threaded object; one process (or one thread)
owns the cache. Worker processes each have their own. Scene simulators are kept per thread
(a GL context is current in one thread at a time).
"""
from __future__ import annotations

import atexit
import threading
from collections import OrderedDict

import numpy as np

from interleave_robot.sim_envs.registration import env_id
from interleave_robot.sim_envs.rendering import SceneRenderer, import_mujoco
from interleave_robot.sim_envs.scene import (BLOCK_HALF, CAMERA_NAME, COLORS, SceneSpec, SceneState, build_mjcf,
                                             park_gripper, read_state, write_state)

# gymnasium (and through the env, mujoco) is imported when the first env is built: a heavy
# optional stack, kept out of module import.

_ENVS: dict[tuple, object] = {}
_SCENES: "OrderedDict[tuple, SceneSim]" = OrderedDict()
MAX_SCENES = 4  # scene simulators kept (each holds a GL context); the least recently used goes first


def cached_env(family: str, image_size: int = 128, **env_options):
    """The cached env of `family` rendering `image_size` px frames (made on first use); other
    TabletopEnv options (e.g. render_on_demand=False) make a separate entry."""
    key = (family, int(image_size), *sorted(env_options.items()))
    env = _ENVS.get(key)
    if env is None:
        import gymnasium as gym


        env = gym.make(env_id(family), image_size=int(image_size), **env_options)
        _ENVS[key] = env
    return env


def cached_envs() -> dict[tuple, object]:
    """A copy of the cache's contents: {(family, image_size, *options): env}."""
    return dict(_ENVS)


def close_cached_envs() -> None:
    """Close every cached env and scene simulator (freeing their GL contexts) and empty the
    cache; safe to call twice."""
    while _ENVS:
        _, env = _ENVS.popitem()
        env.close()
    while _SCENES:
        _, scene = _SCENES.popitem()
        scene.close()


def scene_key(spec: SceneSpec) -> tuple:
    """What a scene simulator is built from: the objects and the image size (hashable)."""
    return (tuple(spec.objects), int(spec.image_width), int(spec.image_height))


def cached_scene(spec: SceneSpec) -> "SceneSim":
    """This thread's scene simulator of `spec` (built on first use; MAX_SCENES are kept)."""
    key = (threading.get_ident(), scene_key(spec))
    scene = _SCENES.get(key)
    if scene is None:
        scene = _SCENES[key] = SceneSim(spec)
        while len(_SCENES) > MAX_SCENES:
            _SCENES.popitem(last=False)[1].close()
    else:
        _SCENES.move_to_end(key)
    return scene


def cached_scenes() -> dict[tuple, "SceneSim"]:
    """A copy of the scene simulators kept: {(thread id, scene key): SceneSim}."""
    return dict(_SCENES)


def _state_key(state: SceneState) -> tuple:
    return tuple((name, tuple(pos), tuple(state.quaternions.get(name, ()))) for name, pos in
                 sorted(state.positions.items()))


class SceneSim:
    """One scene's MuJoCo model, data and renderer: `render(state, settle_steps, duplicate)` puts
    the objects where `state` says (gripper parked, open), runs `settle_steps` physics steps and
    renders the front camera. The bins' poses (model fields) are reset to the scene's own before
    each state is written, so a render depends on its arguments only; the last MAX_RENDERS
    renders are remembered (returned as copies)."""

    MAX_RENDERS = 64

    def __init__(self, spec: SceneSpec):
        self._mujoco = mj = import_mujoco()
        self.spec = spec
        self.model = mj.MjModel.from_xml_string(build_mjcf(spec))
        self.data = mj.MjData(self.model)
        self._body_pose = (self.model.body_pos.copy(), self.model.body_quat.copy())
        self.renderer = SceneRenderer(self.model, spec.image_width, spec.image_height)
        self._renders: "OrderedDict[tuple, tuple[np.ndarray, SceneState]]" = OrderedDict()
        self.hits = self.misses = 0

    def render(self, state: SceneState, settle_steps: int = 0,
               duplicate: tuple[str, list[float]] | None = None) -> tuple[np.ndarray, SceneState]:
        """(RGB image, settled state) of `state` after `settle_steps` physics steps; `duplicate`
        (name, position): a visual-only copy of that block drawn at that position."""
        key = (_state_key(state), int(settle_steps),
               None if duplicate is None else (duplicate[0], tuple(float(v) for v in duplicate[1])))
        memo = self._renders.get(key)
        if memo is not None:
            self.hits += 1
            self._renders.move_to_end(key)
            return memo[0].copy(), memo[1].copy()
        self.misses += 1
        mj, model, data = self._mujoco, self.model, self.data
        mj.mj_resetData(model, data)
        model.body_pos[:], model.body_quat[:] = self._body_pose
        write_state(model, data, self.spec, state)
        park_gripper(model, data)
        mj.mj_forward(model, data)
        if settle_steps:
            mj.mj_step(model, data, nstep=int(settle_steps))
        extra = None if duplicate is None else self._ghost(*duplicate)
        image = self.renderer.rgb(data, CAMERA_NAME, extra_geoms=extra)
        settled = read_state(model, data, self.spec)
        self._renders[key] = (image.copy(), settled.copy())
        while len(self._renders) > self.MAX_RENDERS:
            self._renders.popitem(last=False)
        return image, settled

    def _ghost(self, name: str, pos: list[float]):
        """A visual-only copy of block `name` at `pos`, added to the rendered scene."""
        mj = self._mujoco
        obj = self.spec.get(name)
        geom_type = mj.mjtGeom.mjGEOM_BOX if obj.shape == "cube" else mj.mjtGeom.mjGEOM_CYLINDER
        size = np.array([BLOCK_HALF] * 3)
        rgba = np.array([*COLORS[obj.color], 1.0], dtype=np.float32)
        center = np.array([pos[0], pos[1], BLOCK_HALF])

        def add(scene):
            if scene.ngeom < scene.maxgeom:
                mj.mjv_initGeom(scene.geoms[scene.ngeom], geom_type, size, center, np.eye(3).ravel(), rgba)
                scene.ngeom += 1
        return add

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
        self._renders.clear()


atexit.register(close_cached_envs)

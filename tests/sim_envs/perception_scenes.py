"""Test helpers for the perception tests: render a scene state, make faulty subgoal images.

The faults mirror the simulated generator's fault model (no_op, wrong_object, wrong_place,
collateral, artifact, duplicate) but are built here directly from scene states, so the
critic's tests do not depend on the generator's random draws.
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco

import numpy as np  # noqa: E402

from interleave_robot.sim_envs.language import Subgoal  # noqa: E402
from interleave_robot.sim_envs.placement import apply_subgoal  # noqa: E402
from interleave_robot.sim_envs.workspace import random_free_spot  # noqa: E402
from interleave_robot.sim_envs.scene import (ObjectSpec, SceneSpec, SceneState, build_mjcf,  # noqa: E402
                                             camera_model, park_gripper, write_state)


class SceneRenderer:
    """Renders a SceneSpec at any SceneState (gripper parked), with depth and the camera model."""

    def __init__(self, spec: SceneSpec):
        import mujoco

        self.spec = spec
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(spec))
        self.data = mujoco.MjData(self.model)
        self.renderer = mujoco.Renderer(self.model, spec.image_height, spec.image_width)

    def render(self, state: SceneState):
        import mujoco

        park_gripper(self.model, self.data)
        write_state(self.model, self.data, self.spec, state)
        mujoco.mj_forward(self.model, self.data)
        self.renderer.update_scene(self.data, "front")
        rgb = self.renderer.render().copy()
        self.renderer.enable_depth_rendering()
        self.renderer.update_scene(self.data, "front")
        depth = self.renderer.render().copy()
        self.renderer.disable_depth_rendering()
        camera = camera_model(self.model, self.data, self.spec.image_width, self.spec.image_height)
        return rgb, depth, camera

    def close(self):
        self.renderer.close()


def faulty_state(fault: str, spec: SceneSpec, state: SceneState, subgoal: Subgoal,
                 rng: np.random.Generator) -> SceneState:
    """The after state of a subgoal with one geometric fault (image faults start from `right`)."""
    right = apply_subgoal(spec, state, subgoal)
    others = [b.name for b in spec.blocks if b.name != subgoal.obj and b.name not in subgoal.reference]
    if fault == "no_op":
        return state.copy()
    if fault == "wrong_object":
        wrong = apply_subgoal(spec, state, Subgoal(others[0], subgoal.relation, subgoal.reference))
        return wrong
    if fault == "wrong_place":
        new = state.copy()
        new.positions[subgoal.obj] = random_free_spot(spec, state, rng, ignore=(subgoal.obj,))
        return new
    if fault == "collateral":
        new = right.copy()
        new.positions[others[0]] = random_free_spot(spec, right, rng, ignore=(others[0],))
        return new
    raise ValueError(fault)


def with_duplicate(spec: SceneSpec, state: SceneState, name: str, rng: np.random.Generator):
    """A spec and state with a second copy of block `name` on a free spot."""
    obj = spec.get(name)
    dup = ObjectSpec(f"{name}_copy", "block", obj.color, obj.shape)
    spec2 = SceneSpec(spec.objects + [dup], spec.image_width, spec.image_height)
    new = state.copy()
    new.positions[dup.name] = random_free_spot(spec, state, rng)
    return spec2, new


def with_artifact(image: np.ndarray, rng: np.random.Generator, kind: str = "patch") -> np.ndarray:
    """A blotch of a colour outside the palette, or sensor-like noise, over the image."""
    out = image.astype(np.int16)
    h, w = image.shape[:2]
    if kind == "patch":
        v, u = rng.integers(10, h - 16), rng.integers(10, w - 16)
        out[v:v + 6, u:u + 6] = (255, 0, 200)  # magenta: no block has this hue
    else:
        out += rng.normal(0, 12, size=out.shape).astype(np.int16)
    return np.clip(out, 0, 255).astype(np.uint8)

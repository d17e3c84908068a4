"""Renderers of asset-free models share their thread's GL context (rendering.py) and draw the
same pixels and depths as a mujoco.Renderer of their own, whatever model made the context."""
import numpy as np
import pytest

from interleave_robot.sim_envs import rendering
from interleave_robot.sim_envs.rendering import SceneRenderer, close_all_renderers, import_mujoco
from interleave_robot.sim_envs.scene import BLOCK_HALF, CAMERA_NAME, SceneSpec, build_mjcf, park_gripper, write_state

from .conftest import sample

mujoco = import_mujoco()


def _scene(family: str, seed: int):
    task, state = sample(family, seed)
    spec = SceneSpec.from_dict(task.spec["scene"])
    model = mujoco.MjModel.from_xml_string(build_mjcf(spec))
    data = mujoco.MjData(model)
    write_state(model, data, spec, state)
    park_gripper(model, data)
    mujoco.mj_forward(model, data)
    mujoco.mj_step(model, data, nstep=30)
    return model, data


def _ghost(scene):
    mujoco.mjv_initGeom(scene.geoms[scene.ngeom], mujoco.mjtGeom.mjGEOM_BOX, np.array([BLOCK_HALF] * 3),
                        np.array([0.05, 0.02, BLOCK_HALF]), np.eye(3).ravel(), np.array([1, 0, 0, 1], np.float32))
    scene.ngeom += 1


def _own(model, data, size, ghost=False):
    with mujoco.Renderer(model, size, size) as r:
        r.update_scene(data, CAMERA_NAME)
        if ghost:
            _ghost(r.scene)
        rgb = r.render().copy()
        r.enable_depth_rendering()
        r.update_scene(data, CAMERA_NAME)
        return rgb, r.render().astype(np.float32, copy=True)


@pytest.mark.parametrize("size", [128, 96])
def test_shared_context_renders_equal_own_renderers(size):
    close_all_renderers()
    scenes = [_scene(f, s) for f in ("stack", "sort", "line", "pick_place") for s in (7400, 7401)]
    renderers = [SceneRenderer(m, size, size) for m, _ in scenes]  # all made first, then used in turn
    try:
        assert len({id(r._shared) for r in renderers}) == 1 and renderers[0]._renderer is None
        for _ in range(2):
            for (model, data), r in zip(scenes, renderers):
                rgb, depth = _own(model, data, size)
                assert np.array_equal(r.rgb(data, CAMERA_NAME), rgb)
                assert np.array_equal(r.depth(data, CAMERA_NAME), depth)
        model, data = scenes[3]
        ghosted = renderers[3].rgb(data, CAMERA_NAME, extra_geoms=_ghost)
        assert np.array_equal(ghosted, _own(model, data, size, ghost=True)[0])
        assert not np.array_equal(ghosted, renderers[3].rgb(data, CAMERA_NAME))
        renderers[0].close()  # the shared context stays for the others
        assert np.array_equal(renderers[1].rgb(*scenes[1][1:], CAMERA_NAME), _own(*scenes[1], size)[0])
        with pytest.raises(RuntimeError):
            renderers[0].rgb(scenes[0][1], CAMERA_NAME)
    finally:
        close_all_renderers()
    assert rendering._SHARED == {}
    model, data = scenes[0]
    with SceneRenderer(model, size, size) as again:  # a fresh shared context after closing all
        assert np.array_equal(again.rgb(data, CAMERA_NAME), _own(model, data, size)[0])
    close_all_renderers()


def test_a_model_with_assets_gets_its_own_renderer():
    xml = build_mjcf(SceneSpec.from_dict(sample("stack", 7402)[0].spec["scene"])).replace(
        "<worldbody>", '<asset><texture name="t" type="2d" builtin="checker" width="8" height="8"/>'
                       '<material name="m" texture="t"/></asset><worldbody>')
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    with SceneRenderer(model, 64, 64) as r:
        assert r._shared is None and r._renderer is not None
        assert r.rgb(data, CAMERA_NAME).shape == (64, 64, 3)

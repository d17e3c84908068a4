"""Headless MuJoCo rendering: choose the GL backend before `import mujoco`, render RGB and depth.

MuJoCo reads MUJOCO_GL once, at import. `import_mujoco()` sets it first: the user's value if
set, else EGL when libEGL is installed, else OSMesa when libOSMesa is (software fallback).
A backend that cannot create a context raises RenderingUnavailableError naming what to set
or install, instead of a GL traceback. Renderers hold GL contexts: close them (or use `with`).
"""
from __future__ import annotations

import atexit
import ctypes.util
import os
import sys
import threading
import weakref

import numpy as np

from interleave_robot.errors import InterleaveError

_INSTALL_HINT = ("set MUJOCO_GL=egl (needs libegl1, e.g. `apt-get install libegl1`) or MUJOCO_GL=osmesa "
                 "(needs libosmesa6, `apt-get install libosmesa6`)")


class RenderingUnavailableError(InterleaveError, RuntimeError):
    """No headless OpenGL backend works; the message says which variable to set or package to install."""


def choose_gl_backend() -> str:
    """Set MUJOCO_GL (and PYOPENGL_PLATFORM) if unset and return the backend MuJoCo will use."""
    if "MUJOCO_GL" not in os.environ:
        if ctypes.util.find_library("EGL") is None and ctypes.util.find_library("OSMesa") is not None:
            os.environ["MUJOCO_GL"] = "osmesa"
        else:
            os.environ["MUJOCO_GL"] = "egl"
    backend = os.environ["MUJOCO_GL"]
    os.environ.setdefault("PYOPENGL_PLATFORM", backend if backend in ("egl", "osmesa") else "")
    return backend


def import_mujoco():
    """`import mujoco` with the GL backend chosen first (a no-op choice if already imported)."""
    if "mujoco" not in sys.modules:
        choose_gl_backend()
    try:
        import mujoco
    except Exception as exc:  # MuJoCo loads the GL backend at import: a missing library fails here
        backend = os.environ.get("MUJOCO_GL", "(unset)")
        raise RenderingUnavailableError(
            f"MuJoCo cannot load its MUJOCO_GL={backend} rendering backend ({type(exc).__name__}: {exc}); "
            f"{_INSTALL_HINT}") from None
    return mujoco


_LIVE: "weakref.WeakSet[SceneRenderer]" = weakref.WeakSet()


def _track(renderer: "SceneRenderer") -> None:
    """Remember a live renderer so that exit closes it while EGL still works. atexit runs its
    callbacks last-registered first: registering after mujoco's own EGL handler (which
    terminates the display) makes ours run before it, so no context is freed by __del__ late."""
    if not _LIVE:
        atexit.unregister(close_all_renderers)
        atexit.register(close_all_renderers)
    _LIVE.add(renderer)


def close_all_renderers() -> None:
    """Close every SceneRenderer still open and the shared GL contexts (idempotent; also runs at
    interpreter exit)."""
    for renderer in list(_LIVE):
        renderer.close()
    _LIVE.clear()
    _close_shared_contexts()


def scene_capacity(model) -> int:
    """Visual geoms a scene of `model` can hold: mujoco.Renderer's default (10000) cost ~45 ms to
    allocate and free per renderer, a third of a training episode's time (docs/BENCHMARKS.md); a
    tabletop scene draws its geoms and sites plus a few extras (e.g. a duplicate's ghost)."""
    return max(1000, 4 * (model.ngeom + model.nsite) + 100)


def _shareable(model) -> bool:
    """A model without textures, meshes, height fields, skins or flexes: a MuJoCo render context
    holds nothing of it but buffers and built-in shapes sized by its visual settings."""
    return all(int(getattr(model, name)) == 0 for name in ("ntex", "nmesh", "nhfield", "nskin", "nflex"))


def _share_key(model, width: int, height: int) -> tuple:
    """What a shared render context is made from: this thread, the image size and every visual
    setting that MuJoCo's render context reads from a model (buffers, shapes, fog, haze, shadows)."""
    g, q, m, c = model.vis.global_, model.vis.quality, model.vis.map, model.vis.rgba
    return (threading.get_ident(), int(width), int(height), g.offwidth, g.offheight, float(g.linewidth), float(g.glow),
            q.offsamples, q.shadowsize, q.numslices, q.numstacks, q.numquads, float(m.fogstart), float(m.fogend),
            float(m.haze), float(m.shadowclip), float(m.shadowscale), tuple(c.fog.tolist()), tuple(c.haze.tolist()))


class _SharedContext:
    """One GL context, MuJoCo render context and scene, shared by this thread's renderers of
    models with the same visual settings and no assets (every tabletop scene): a new scene
    costs no GL context (creating and freeing one, with its render context and scene, took
    ~15 ms per scene, twice per episode). Renders are the same pixels as mujoco.Renderer's
    (tests/sim_envs/test_rendering_shared.py)."""

    def __init__(self, mujoco, model, width: int, height: int):
        self.gl = mujoco.GLContext(width, height)
        self.gl.make_current()
        self.context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self.context)
        self.context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self.scene = mujoco.MjvScene(model, maxgeom=scene_capacity(model))
        self.option = mujoco.MjvOption()
        self.rect = mujoco.MjrRect(0, 0, width, height)

    def fit(self, mujoco, model) -> None:
        """Make room for `model`'s geoms (a bigger scene, when it needs one)."""
        if scene_capacity(model) > self.scene.maxgeom:
            self.scene = mujoco.MjvScene(model, maxgeom=scene_capacity(model))

    def close(self) -> None:
        if self.context is None:
            return
        try:
            self.gl.make_current()
            self.context.free()
        except Exception:  # noqa: BLE001  (current in another thread: destroying the GL context frees it all)
            pass
        self.gl.free()
        self.context = None


_SHARED: dict[tuple, _SharedContext] = {}


def _shared_context(mujoco, model, width: int, height: int) -> _SharedContext:
    key = _share_key(model, width, height)
    shared = _SHARED.get(key)
    if shared is None:
        shared = _SHARED[key] = _SharedContext(mujoco, model, width, height)
    else:
        shared.fit(mujoco, model)
    return shared


def _close_shared_contexts() -> None:
    while _SHARED:
        _SHARED.popitem()[1].close()


class SceneRenderer:
    """RGB and depth images of one model from a named camera. Models without assets share their
    thread's GL context (_SharedContext); others get a mujoco.Renderer of their own."""

    def __init__(self, model, width: int, height: int):
        mujoco = self._mujoco = import_mujoco()
        self.width, self.height = width, height
        self.model = model
        self._renderer = self._shared = None
        try:
            if _shareable(model) and getattr(mujoco, "GLContext", None) is not None:
                g = model.vis.global_
                if width > g.offwidth or height > g.offheight:
                    raise ValueError(f"image {width}x{height} > the model's offscreen framebuffer "
                                     f"{g.offwidth}x{g.offheight}")
                self._shared = _shared_context(mujoco, model, width, height)
            else:
                self._renderer = mujoco.Renderer(model, height=height, width=width, max_geom=scene_capacity(model))
        except Exception as exc:  # GL context creation fails with several exception types
            backend = os.environ.get("MUJOCO_GL", "(unset)")
            raise RenderingUnavailableError(
                f"MuJoCo cannot render with MUJOCO_GL={backend}: {exc}; {_INSTALL_HINT}") from None
        _track(self)

    def rgb(self, data, camera: str, extra_geoms=None) -> np.ndarray:
        """RGB uint8 (H, W, 3). `extra_geoms(scene)` may add visual-only geoms (e.g. a duplicate)."""
        if self._renderer is not None:
            self._renderer.update_scene(data, camera)
            if extra_geoms is not None:
                extra_geoms(self._renderer.scene)
            return self._renderer.render().copy()
        shared = self._update(data, camera)
        if extra_geoms is not None:
            extra_geoms(shared.scene)
        out = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self._render(shared, out, None)
        return np.flipud(out).copy()

    def depth(self, data, camera: str) -> np.ndarray:
        """Metric depth along the camera axis, float32 (H, W)."""
        if self._renderer is not None:
            self._renderer.enable_depth_rendering()
            try:
                self._renderer.update_scene(data, camera)
                return self._renderer.render().astype(np.float32, copy=True)
            finally:
                self._renderer.disable_depth_rendering()
        mj = self._mujoco
        shared = self._update(data, camera)
        flags = shared.scene.flags
        original = flags.copy()
        flags[mj.mjtRndFlag.mjRND_SEGMENT] = True  # as mujoco.Renderer draws depth (precise when far)
        flags[mj.mjtRndFlag.mjRND_IDCOLOR] = True
        try:
            out = np.empty((self.height, self.width), dtype=np.float32)
            self._render(shared, None, out)
        finally:
            np.copyto(flags, original)
        # mujoco.Renderer's conversion of the reversed-Z buffer to metres, operation for operation.
        extent = self.model.stat.extent
        zfar, znear = np.float32(self.model.vis.map.zfar * extent), np.float32(self.model.vis.map.znear * extent)
        c_coef = -(zfar + znear) / (zfar - znear)
        d_coef = -(np.float32(2) * zfar * znear) / (zfar - znear)
        c_coef = np.float32(-0.5) * c_coef - np.float32(0.5)
        d_coef = np.float32(-0.5) * d_coef
        out[:] = (d_coef / (out.astype(np.float64) + c_coef)).astype(np.float32)
        return np.flipud(out).astype(np.float32, copy=True)

    def _update(self, data, camera: str) -> _SharedContext:
        if self._shared is None:
            raise RuntimeError("this SceneRenderer is closed")
        mj, model, shared = self._mujoco, self.model, self._shared
        cam = mj.MjvCamera()
        cam.fixedcamid = mj.mj_name2id(model, mj.mjtObj.mjOBJ_CAMERA, camera)
        if cam.fixedcamid == -1:
            raise ValueError(f'The camera "{camera}" does not exist.')
        cam.type = mj.mjtCamera.mjCAMERA_FIXED
        mj.mjv_updateScene(model, data, shared.option, None, cam, mj.mjtCatBit.mjCAT_ALL.value, shared.scene)
        return shared

    def _render(self, shared: _SharedContext, rgb, depth) -> None:
        mj = self._mujoco
        shared.gl.make_current()
        mj.mjr_render(shared.rect, shared.scene, shared.context)
        mj.mjr_readPixels(rgb, depth, shared.rect, shared.context)

    def close(self) -> None:
        """Free this renderer's GL context (a shared one stays for the thread's other renderers,
        until close_all_renderers() or exit)."""
        self._shared = None
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> "SceneRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

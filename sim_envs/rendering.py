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
    """Close every SceneRenderer still open (idempotent; also runs at interpreter exit)."""
    for renderer in list(_LIVE):
        renderer.close()
    _LIVE.clear()


class SceneRenderer:
    """RGB and depth images of one model from a named camera (one GL context, reused)."""

    def __init__(self, model, width: int, height: int):
        mujoco = import_mujoco()
        self.width, self.height = width, height
        try:
            self._renderer = mujoco.Renderer(model, height=height, width=width)
        except Exception as exc:  # GL context creation fails with several exception types
            backend = os.environ.get("MUJOCO_GL", "(unset)")
            raise RenderingUnavailableError(
                f"MuJoCo cannot render with MUJOCO_GL={backend}: {exc}; {_INSTALL_HINT}") from None
        _track(self)

    def rgb(self, data, camera: str, extra_geoms=None) -> np.ndarray:
        """RGB uint8 (H, W, 3). `extra_geoms(scene)` may add visual-only geoms (e.g. a duplicate)."""
        self._renderer.update_scene(data, camera)
        if extra_geoms is not None:
            extra_geoms(self._renderer.scene)
        return self._renderer.render().copy()

    def depth(self, data, camera: str) -> np.ndarray:
        """Metric depth along the camera axis, float32 (H, W)."""
        self._renderer.enable_depth_rendering()
        try:
            self._renderer.update_scene(data, camera)
            return self._renderer.render().astype(np.float32, copy=True)
        finally:
            self._renderer.disable_depth_rendering()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> "SceneRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

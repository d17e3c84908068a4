"""The process's simulator cache: one Gymnasium env per (task family, image size), reused.

    from interleave_robot.sim_envs.env_cache import cached_env, close_cached_envs
    env = cached_env("stack")          # built on first use, the same object afterwards
    env.reset(seed=3)

Building an env compiles a MuJoCo model and opens a GL context (tens of milliseconds, and a
context per env): episode runners, bench workers, training's simulation and step scoring
all take their envs from here instead of keeping caches of their own. Every cached env is
closed once, deterministically, by `close_cached_envs()` (idempotent), which also runs at
interpreter exit before module teardown, so no GL context is left for the garbage collector
to free late (the source of `Exception ignored ... EGLError` tracebacks at exit).

Not thread-safe by design: an env is a single-threaded object; one process (or one thread)
owns the cache. Worker processes each have their own.
"""
from __future__ import annotations

import atexit

from interleave_robot.sim_envs.registration import env_id

# gymnasium (and through the env, mujoco) is imported when the first env is built: a heavy
# optional stack, kept out of module import.

_ENVS: dict[tuple, object] = {}


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
    """Close every cached env (freeing its GL context) and empty the cache; safe to call twice."""
    while _ENVS:
        _, env = _ENVS.popitem()
        env.close()


atexit.register(close_cached_envs)

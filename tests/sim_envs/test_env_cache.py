"""The process's one simulator cache (env_cache.py): reuse, idempotent close, a clean exit."""
import subprocess
import sys

from interleave_robot.sim_envs.env_cache import cached_env, cached_envs, close_cached_envs
from interleave_robot.sim_envs.episode import EpisodeRunner


def test_one_env_per_family_and_size_reused_by_runners():
    close_cached_envs()
    env = cached_env("stack")
    assert cached_env("stack") is env and cached_env("line") is not env
    assert cached_env("stack", 64) is not env and len(cached_envs()) == 3
    runner = EpisodeRunner()
    assert runner._env("stack") is env  # the runner keeps no env cache of its own
    close_cached_envs()
    close_cached_envs()  # idempotent
    assert cached_envs() == {}
    env.close()  # an env closed twice is fine too
    fresh = cached_env("stack")
    assert fresh is not env
    fresh.reset(seed=0)
    close_cached_envs()


def test_a_script_that_never_closes_exits_cleanly():
    code = ("from interleave_robot.sim_envs.env_cache import cached_env\n"
            "from interleave_robot.sim_envs.episode import EpisodeConfig, EpisodeRunner\n"
            "env = cached_env('stack'); env.reset(seed=0)\n"
            "EpisodeRunner().run(EpisodeConfig(steps=1, seed=2))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Exception ignored" not in proc.stderr and "EGLError" not in proc.stderr, proc.stderr

"""Fixtures of the simulation tests. MUJOCO_GL is set before anything imports mujoco."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def generator():
    """One simulated generator per test module (its GL context is closed at the end)."""
    from interleave_robot.sim_envs.sim_generator import SimulatedGenerator

    gen = SimulatedGenerator()
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def runner():
    from interleave_robot.sim_envs.episode import EpisodeRunner

    r = EpisodeRunner()
    yield r
    r.close()


def sample(family: str, seed: int, **options):
    from interleave_robot.sim_envs.tasks import TaskOptions, sample_task

    return sample_task(family, np.random.default_rng(seed), TaskOptions(**options))

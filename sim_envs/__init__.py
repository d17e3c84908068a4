"""Simulation harness: MuJoCo tabletop envs, teacher, simulated generator, executor (installed as interleave_robot.sim_envs).

Importing this package registers the Gymnasium ids (registration.py), as Gymnasium's own
packages do; it does not import mujoco (that happens when an env is made).
"""
from interleave_robot.sim_envs.registration import ENV_IDS, env_id, register_envs

register_envs()

__all__ = ["ENV_IDS", "env_id", "register_envs"]

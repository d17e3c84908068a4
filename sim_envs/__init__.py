"""Simulation harness: MuJoCo tabletop envs, teacher, simulated generator, executor (installed as interleave_robot.sim_envs)."""

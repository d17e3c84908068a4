"""Critic/planner training in simulation (installed as interleave_robot.training)."""

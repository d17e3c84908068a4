"""Critic RL rewards: text terms (format, accuracy), simulator terms (semantic, quality, task).

    config.py        RewardConfig, TERMS, combine (a leaf: imports nothing else of the package)
    text.py          format and accuracy terms, reading a completion's verdict
    task_term.py     the task-completion term (the executor in MuJoCo)
    step_scoring.py  regeneration + scoring of refined prompts, in-process or on a process pool
    sim_rewards.py   SimRewards: every term as a trl reward function
"""
from interleave_robot.training.rewards.config import TERMS, RewardConfig, combine
from interleave_robot.training.rewards.sim_rewards import SimRewards
from interleave_robot.training.rewards.text import (accuracy_reward, accuracy_score, completion_text, format_reward,
                                                    format_score, partial_format_reward, read_verdict)

__all__ = ["TERMS", "RewardConfig", "SimRewards", "accuracy_reward", "accuracy_score", "combine", "completion_text",
           "format_reward", "format_score", "partial_format_reward", "read_verdict"]

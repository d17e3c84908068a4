"""The task-completion reward term: the executor follows a regenerated subgoal image in MuJoCo.

The env is reset to the row's source snapshot (the task replayed with that state as its
initial state), the visual-subgoal executor moves the robot toward the subgoal image through
env.step actions, and the term is 1.0 when the step's relation then holds in physics (on the
task's last step: when the whole task predicate holds), else 0.0.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from interleave_robot.types import Task

# Function-level imports here are only gymnasium and sim_envs modules (gymnasium and MuJoCo: the [sim] extra).


def _env(family: str):
    """The family's env from the process's one simulator cache (sim_envs.env_cache)."""
    from interleave_robot.sim_envs.env_cache import cached_env

    return cached_env(family).unwrapped


def _executor(workspace: dict[str, Any]):
    if "executor" not in workspace:
        from interleave_robot.sim_envs.executor import ExecutorConfig, SubgoalExecutor

        workspace["executor"] = SubgoalExecutor(ExecutorConfig())
    return workspace["executor"]


def task_completion(item: dict, source, subgoal_image: np.ndarray, seed: int, workspace: dict[str, Any]) -> float:
    """1.0 if executing `subgoal_image` from the source state completes the step (and the task on its last step)."""
    from interleave_robot.sim_envs.language import Subgoal
    from interleave_robot.sim_envs.placement import relation_holds

    task = Task.from_dict(json.loads(item["task"]))
    replay = Task(text=task.text, family=task.family,
                  spec={**task.spec, "initial_state": source.state.to_dict()})
    env = _env(task.spec["family"])
    env.reset(seed=seed, options={"task": replay})
    # The executor's own success flag is not trusted: physics decides.
    _executor(workspace).execute(env, subgoal_image, item["instruction"])
    subgoal = Subgoal.from_dict(json.loads(item["subgoal"]))
    done = relation_holds(env.scene_spec, env.state(), subgoal)
    if done and item["step_index"] == item["num_steps"] - 1:
        done = env.is_success()
    return float(done)

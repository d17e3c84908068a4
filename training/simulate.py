"""Rollouts in the simulator that become training rows (one function per row kind).

An episode: reset the family's env with the episode seed, let the privileged teacher plan,
then for each step ask the simulated generator (with its fault model) to draw the step from
the current ground-truth source image, with the teacher's prompt or an everyday phrasing of
it (vague prompts fail more often). The ground truth of a generated image is decided from
physics state, not only from the generator's fault label: success means the step's relation
holds, no other block is off its ground-truth place and the image has no image-level fault.
The next step starts from a clean generation of the explicit prompt (fault rate 0).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from interleave_robot.training.grids import grid_record
from interleave_robot.types import GenerationRequest
from interleave_robot.training.prompts import critic_answer, grid_cell, planner_answer, project

# Function-level imports here are only sim_envs modules (they load gymnasium and MuJoCo: the [sim] extra).

IMAGE_FAULTS = ("artifact", "duplicate")
OTHERS_TOLERANCE = 0.02
# This process's simulated generators, made once and reused by every episode (each holds a MuJoCo
# model and a GL context: re-creating them per episode cost more than the episode itself). Envs
# come from the one simulator cache of sim_envs (env_cache.cached_env).
_GENERATORS: dict[tuple, Any] = {}


@dataclass
class RolloutConfig:
    fault_rate: float = 0.5  # the simulated generator's base fault rate for critic rows
    attempts_per_step: int = 1  # generations (rows) per plan step
    vague_prompts: float = 0.5  # probability of an everyday phrasing instead of the teacher's prompt
    realism: float = 0.0  # editor effects on generated images (sim_generator's `realism`)
    subtle_fraction: float = 0.0  # share of faults in a subtle form (sim_generator's `subtle_fraction`)


def _env(family: str):
    from interleave_robot.sim_envs.env_cache import cached_env

    return cached_env(family).unwrapped


def _generator(fault_rate: float, realism: float, subtle_fraction: float):
    key = (fault_rate, realism, subtle_fraction)
    if key not in _GENERATORS:
        from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator

        _GENERATORS[key] = SimulatedGenerator(SimGeneratorConfig(fault_rate=fault_rate, realism=realism,
                                                                 subtle_fraction=subtle_fraction))
    return _GENERATORS[key]


def close_envs() -> None:
    """Close this process's cached generators and envs (their GL contexts); safe to call twice."""
    from interleave_robot.sim_envs.env_cache import close_cached_envs

    for generator in _GENERATORS.values():
        generator.close()
    _GENERATORS.clear()
    close_cached_envs()


def _start(family: str, seed: int):
    from interleave_robot.sim_envs.teacher import TeacherConfig, TeacherPlanner

    env = _env(family)
    _, info = env.reset(seed=seed)
    observation = env.observation()
    plan = TeacherPlanner(TeacherConfig()).plan(info["task"], observation)
    return env, info["task"], observation, plan


def others_in_place(spec, state, gt_state, moved: str) -> bool:
    """Every block except `moved` within OTHERS_TOLERANCE of its ground-truth position."""
    for obj in spec.blocks:
        if obj.name != moved and np.linalg.norm(np.subtract(state.positions[obj.name],
                                                            gt_state.positions[obj.name])) > OTHERS_TOLERANCE:
            return False
    return True


def judge(spec, subgoal, after_state, gt_state, fault: str) -> tuple[bool, str]:
    """(success, fault label) of a generated subgoal state, from physics."""
    from interleave_robot.sim_envs.placement import relation_holds

    ok = (fault not in IMAGE_FAULTS and relation_holds(spec, after_state, subgoal)
          and others_in_place(spec, after_state, gt_state, subgoal.obj))
    if ok:
        return True, "none"
    return False, fault if fault != "none" else "misread"  # the generator followed a misread prompt


def _cells(spec, camera: dict, subgoal, before_state, after_state) -> dict:
    """Grid cells of the moved object and its references, before and after (for the positions answer style)."""
    w, h = camera["width"], camera["height"]
    cells = {}
    for name in [subgoal.obj, *subgoal.reference]:
        words = spec.get(name).words
        a = grid_cell(project(camera, before_state.positions[name]), w, h)
        b = grid_cell(project(camera, after_state.positions[name]), w, h)
        cells[words] = [a, b]
    return cells


def critic_rows(family: str, seed: int, config: RolloutConfig) -> list[dict]:
    """The critic rows of one episode (both critic-sft and critic-rl columns)."""
    from interleave_robot.sim_envs.language import describe_subgoal, natural_phrases
    from interleave_robot.sim_envs.tasks import goal_of

    env, task, observation, plan = _start(family, seed)
    spec = env.scene_spec
    camera = observation.camera.to_dict()
    generator = _generator(config.fault_rate, config.realism, config.subtle_fraction)
    clean = _generator(0.0, config.realism, 0.0)
    rng = np.random.default_rng(seed)
    image, snapshot = observation.image, observation.state
    rows = []
    goal = goal_of(task.spec)  # the intended subgoal of each step (the teacher plans it in order)
    for k, step in enumerate(plan.steps):
        subgoal = goal[k]
        explicit = describe_subgoal(subgoal, spec)
        truth = clean.generate(GenerationRequest(prompt=explicit, seed=int(rng.integers(2**31)), source_image=image,
                                                 source_state=snapshot, step=step))
        for _ in range(config.attempts_per_step):
            vague = rng.random() < config.vague_prompts
            phrases = natural_phrases(subgoal, spec)
            gen_prompt = phrases[int(rng.integers(len(phrases)))] if vague else explicit
            row_seed = int(rng.integers(2**31))
            result = generator.generate(GenerationRequest(prompt=gen_prompt, seed=row_seed, source_image=image,
                                                          source_state=snapshot, step=step))
            success, fault = judge(spec, subgoal, result.state.state, truth.state.state,
                                   result.metadata.get("fault", "none"))
            cells = _cells(spec, camera, subgoal, snapshot.state, result.state.state)
            grids = grid_record(spec, camera, subgoal, snapshot.state, result.state.state, truth.state.state,
                                result.metadata.get("fault", "none"), result.metadata.get("detail"))
            rows.append({
                "images": [Image.fromarray(image), Image.fromarray(result.image)],
                "task_text": task.text, "family": family, "instruction": step.instruction, "gen_prompt": gen_prompt,
                "step_name": step.step_name, "step_index": k, "num_steps": len(plan.steps),
                "success": success, "fault": fault, "generator_fault": result.metadata.get("fault", "none"),
                "refine_prompt": "" if success else explicit, "explicit_prompt": explicit,
                "answer": critic_answer(success, explicit, fault, "plain"), "cells": json.dumps(cells),
                "grids": grids,
                "episode_seed": seed, "row_seed": row_seed,
                "source_snapshot": json.dumps(snapshot.to_dict()), "gt_snapshot": json.dumps(truth.state.to_dict()),
                "after_snapshot": json.dumps(result.state.to_dict()), "subgoal": json.dumps(subgoal.to_dict()),
                "task": json.dumps(task.to_dict()), "camera": json.dumps(camera),
            })
        image, snapshot = truth.image, truth.state
    return rows


def planner_rows(family: str, seed: int, config: RolloutConfig) -> list[dict]:
    """One planner row: the observation and task text -> the teacher's plan in the output contract."""
    env, task, observation, plan = _start(family, seed)
    steps = [s.to_dict() for s in plan.steps]
    return [{"images": [Image.fromarray(observation.image)], "task_text": task.text, "family": family,
             "answer": planner_answer(steps), "num_steps": len(steps), "episode_seed": seed,
             "task": json.dumps(task.to_dict())}]


ROW_FUNCTIONS = {"planner-sft": planner_rows, "critic-sft": critic_rows, "critic-rl": critic_rows}
# critic-sft keeps only what SFT needs; critic-rl keeps the states the rewards recompute from.
DROP_COLUMNS = {"critic-sft": ("source_snapshot", "gt_snapshot", "after_snapshot", "task"),
                "critic-rl": (), "planner-sft": ()}

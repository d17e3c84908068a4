"""Measuring a trained planner on held-out episodes: format, step accuracy, task success in the loop.

- valid-format rate: the greedy answer parses as a plan (interleave_robot.parsing.parse_plan);
- step accuracy against the teacher: step k is right when its generator prompt parses (against
  the episode's scene) to the same subgoal as the teacher's step k (object, relation,
  references); the share of the teacher's steps got right, and the share of plans right in full;
- task success in the sim loop with the learned planner in place of the teacher (simulated
  generator and perception critic unchanged), episodes from seeds given by the caller.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from interleave_robot.backends.vlm_base import ChatMessage
from interleave_robot.backends.vlm_transformers import TransformersVLM, TransformersVLMConfig
from interleave_robot.errors import InterleaveError
from interleave_robot.parsing import parse_plan
from interleave_robot.training.downstream import task_success
from interleave_robot.training.formatting import load_split
from interleave_robot.training.prompts import PromptConfig, planner_prompt_text
from interleave_robot.training.simulate import _start, close_envs

# Function-level imports here are only sim_envs (it loads gymnasium and MuJoCo: the [sim] extra).


def planner_options(model_dir: str | Path, max_new_tokens: int = 400) -> dict:
    """VLMPlanner options for a trained checkpoint (the packaged planner template, greedy)."""
    return {"vlm": "transformers",
            "vlm_options": {"model": str(model_dir), "processor": "image-only", "max_new_tokens": max_new_tokens}}


def _same_subgoal(a, b) -> bool:
    return a.obj == b.obj and a.relation == b.relation and list(a.reference) == list(b.reference)


def step_matches(answer: str, family: str, seed: int) -> tuple[bool, int, int]:
    """(format valid, teacher steps matched position by position, teacher steps) for one answer."""
    from interleave_robot.sim_envs.language import PromptParseError, parse_instruction
    env, _, _, teacher = _start(family, seed)
    try:
        plan = parse_plan(answer)
    except InterleaveError:
        return False, 0, len(teacher.steps)
    right = 0
    for ours, theirs in zip(plan.steps, teacher.steps):
        try:
            right += _same_subgoal(parse_instruction(ours.prompt, env.scene_spec),
                                   parse_instruction(theirs.prompt, env.scene_spec))
        except PromptParseError:
            pass
    return True, right, len(teacher.steps)


def evaluate_planner(model_dir: str | Path, data_dir: str | Path, split: str = "test",
                     max_rows: int | None = None) -> dict:
    """Format rate and step accuracy of `model_dir` on planner-sft rows (greedy answers)."""

    ds = load_split(data_dir, split, max_rows)
    vlm = TransformersVLM(TransformersVLMConfig(model=str(model_dir), processor="image-only", max_new_tokens=400))
    prompts = PromptConfig()
    rows = []
    try:
        for row in ds:
            image = np.asarray(row["images"][0].convert("RGB"))
            answer = vlm.chat([ChatMessage("user", [image, planner_prompt_text(prompts, row["task_text"])])])
            valid, right, total = step_matches(answer, row["family"], int(row["episode_seed"]))
            rows.append({"family": row["family"], "valid": valid, "right": right, "steps": total,
                         "answer": answer[:400]})
            print(f"planner eval {len(rows)}/{len(ds)}", file=sys.stderr, end="\r")
    finally:
        vlm.close()
        close_envs()
    steps = sum(r["steps"] for r in rows)
    return {"rows": len(rows), "format_rate": sum(r["valid"] for r in rows) / max(1, len(rows)),
            "step_accuracy": sum(r["right"] for r in rows) / max(1, steps),
            "plans_fully_right": sum(r["right"] == r["steps"] and r["valid"] for r in rows) / max(1, len(rows)),
            "examples": rows[:3]}


def planner_task_success(model_dir: str | Path | None, episodes: int, seed: int, fault_rate: float = 0.3) -> dict:
    """Task success in the sim loop (perception critic) with the trained planner (None: the teacher)."""
    options = None if model_dir is None else planner_options(model_dir)
    return task_success("perception", episodes, seed, fault_rate=fault_rate, planner_options=options)

"""Chat prompts and target answers for planner and critic training rows.

Training uses the *same* prompt templates as the inference agents (`VLMCritic`, `VLMPlanner`
in interleave_robot.backends.vlm_agents), so a trained checkpoint sees at inference exactly
what it saw in training. A recipe may name its own template file (a short one suits a tiny
model); the checkpoint directory then records it (see `AGENT_FILE`) and evaluation uses it.

Answer styles for the critic's `<think>` part:
- "plain": one fixed sentence, so the verdict token is where the decision is made (and a
  teacher-forced score at that token measures the decision, see evaluate.py).
- "positions": the grid cells of the moved object and its reference in both images written
  before the verdict, a dense intermediate target (one of docs/DESIGN.md's untried routes).
- "grids": both images as whole 8x8 grids, the goal, the cell wanted, what changed and
  whether the image is noisy, then the verdict (grids.py; reading is learned, the judging fields were not).
- "arrivals": both grids, then the arrival grid (a block letter in each cell a block newly occupies),
  the goal, the noise flag, then the verdict: every written token is a copy or a same-cell compare.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from interleave_robot.backends.vlm_agents import load_template
from interleave_robot.errors import ConfigError

ANSWER_STYLES = ("plain", "positions", "grids", "arrivals")
CRITIC_FIELDS = ("task", "instruction", "prompt", "step_name")
PLANNER_FIELDS = ("task", "max_steps")
AGENT_FILE = "critic_agent.json"  # written next to a trained critic: {"template": ..., "answer_style": ...}
PLAIN_THINK = "I compare the two images."
VERDICT_KEY = '"previous_step_success": '  # what precedes the boolean in every target answer
GRID = 8  # positions are written as cells of a GRID x GRID grid over the image

FAULT_WORDS = {
    "none": "the step is done as asked",
    "no_op": "nothing moved",
    "wrong_object": "the wrong object moved",
    "wrong_place": "the object went to the wrong place",
    "collateral": "another object moved too",
    "artifact": "the image has artifacts",
    "duplicate": "an object is duplicated",
    "unparsed": "the editor did not understand the prompt",
}


@dataclass
class PromptConfig:
    """Which template renders critic/planner prompts ("" = the packaged one) and the think style."""

    critic_template: str = ""
    planner_template: str = ""
    answer_style: str = "plain"
    max_steps: int = 5

    def __post_init__(self):
        if self.answer_style not in ANSWER_STYLES:
            raise ConfigError(f"answer_style must be one of {', '.join(ANSWER_STYLES)}, got {self.answer_style!r}")
        if self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {self.max_steps}")


def critic_prompt_text(config: PromptConfig, task: str, instruction: str, prompt: str, step_name: str = "") -> str:
    """The text part of the critic's user turn, rendered exactly as VLMCritic renders it."""
    template = load_template(config.critic_template, "critic.txt", CRITIC_FIELDS)
    return template.substitute(task=task, instruction=instruction, prompt=prompt, step_name=step_name)


def planner_prompt_text(config: PromptConfig, task: str) -> str:
    template = load_template(config.planner_template, "planner.txt", PLANNER_FIELDS)
    return template.substitute(task=task, max_steps=str(config.max_steps))


def user_turn(text: str, num_images: int) -> list[dict]:
    """trl's conversational prompt: images first (as VLMCritic/VLMPlanner order them), then the text."""
    return [{"role": "user", "content": [*({"type": "image", "text": None} for _ in range(num_images)),
                                         {"type": "text", "text": text}]}]


def assistant_turn(text: str) -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def format_answer(think: str, payload) -> str:
    """`<think>..</think><answer>{json}</answer>`: the output contract the parsers read."""
    return f"<think>{think}</think><answer>{json.dumps(payload)}</answer>"


def critic_answer(success: bool, refine_prompt: str, fault: str, style: str = "plain",
                  cells: dict[str, tuple[str, str]] | None = None, think: str | None = None) -> str:
    """The target answer of a critic row. `cells`: object words -> (cell before, cell after);
    `think`: the think text when the caller wrote it (the "grids" style)."""
    if think is not None:
        pass
    elif style == "positions":
        think = "; ".join(f"{name} {a}->{b}" for name, (a, b) in (cells or {}).items())
        think = f"{think}. {FAULT_WORDS.get(fault, fault)}." if think else f"{FAULT_WORDS.get(fault, fault)}."
    else:
        think = PLAIN_THINK
    return format_answer(think, {"previous_step_success": bool(success),
                                 "refine_prompt": "" if success else refine_prompt})


def planner_answer(steps: list[dict]) -> str:
    """The target answer of a planner row: the teacher's steps in the planner output contract."""
    think = f"{len(steps)} step{'s' if len(steps) != 1 else ''}, one object each."
    return format_answer(think, steps)


def grid_cell(pixel_xy: tuple[float, float], width: int, height: int) -> str:
    """'c3r5': column and row of a GRID x GRID grid (clamped), a short token-friendly position."""
    col = min(GRID - 1, max(0, int(pixel_xy[0] * GRID / width)))
    row = min(GRID - 1, max(0, int(pixel_xy[1] * GRID / height)))
    return f"c{col}r{row}"


def project(camera: dict, xyz: list[float]) -> tuple[float, float]:
    """World point -> pixel (u, v) through a CameraModel dict (OpenCV convention)."""
    world_from_camera = np.asarray(camera["world_from_camera"], dtype=float)
    camera_from_world = np.linalg.inv(world_from_camera)
    p = camera_from_world @ np.array([*xyz, 1.0])
    z = max(p[2], 1e-6)
    return camera["fx"] * p[0] / z + camera["cx"], camera["fy"] * p[1] / z + camera["cy"]

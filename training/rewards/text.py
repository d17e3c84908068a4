"""The text-only reward terms: format (think then answer, a verdict JSON) and accuracy."""
from __future__ import annotations

import re
from typing import Any

from interleave_robot.errors import ConfigError, OutputFormatError
from interleave_robot.parsing import decode_answer, parse_verdict

_THINK_THEN_ANSWER = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)


def completion_text(completion: Any) -> str:
    """The answer text of a trl completion: a string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, str):
            return content
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    raise ConfigError(f"a completion must be a string or a list of messages, got {type(completion).__name__}")


def read_verdict(text: str):
    """(verdict or None, reason): None when the answer is out of format."""
    try:
        return parse_verdict(text), ""
    except OutputFormatError as exc:
        return None, str(exc)


def format_score(text: str, partial: bool = False) -> float:
    """1.0 for think-then-answer with a verdict JSON carrying both fields, else 0.0.

    `partial`: 0.25 for a closed <think> block first, 0.25 for an <answer> block after it, and
    0.5 for the verdict JSON, so a model trained from scratch gets a gradient before it is exact.
    """
    if partial:
        score = 0.0
        if text.lstrip().startswith("<think>") and "</think>" in text:
            score += 0.25
            if "<answer>" in text.split("</think>", 1)[1]:
                score += 0.25
        return score + 0.5 * format_score(text)
    if not _THINK_THEN_ANSWER.match(text):
        return 0.0
    verdict, _ = read_verdict(text)
    if verdict is None:
        return 0.0
    _, payload = decode_answer(text)
    return 1.0 if isinstance(payload.get("refine_prompt"), str) else 0.0


def accuracy_score(text: str, success: bool) -> float:
    verdict, _ = read_verdict(text)
    return float(verdict is not None and verdict.success == bool(success))


def format_reward(prompts, completions, **columns) -> list[float]:
    """Format term (see module docstring)."""
    return [format_score(completion_text(c)) for c in completions]


def partial_format_reward(prompts, completions, **columns) -> list[float]:
    """Format term with shaped partial credit (RewardConfig.format_partial)."""
    return [format_score(completion_text(c), partial=True) for c in completions]


def accuracy_reward(prompts, completions, success, **columns) -> list[float]:
    """Accuracy term: predicted previous_step_success == ground truth (`success` column)."""
    return [accuracy_score(completion_text(c), s) for c, s in zip(completions, success)]

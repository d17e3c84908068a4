"""Critic RL rewards as plain trl reward functions: `reward(prompts, completions, **columns) -> list[float|None]`.

Terms (each in [0, 1]):
- format: `<think>...</think>` before `<answer>{json}</answer>`, the JSON parsing as a verdict
  with both fields present (`previous_step_success` a boolean, `refine_prompt` a string);
- accuracy: the predicted `previous_step_success` equals the ground truth;
- semantic / quality: the refined prompt is run through the simulated generator on the
  original source snapshot, and the result compared with the ground-truth subgoal state
  (semantic: the step's relation holds and no other object is off its ground-truth place;
  quality: the regenerated image has no image-level fault, per the generator's ground truth,
  and the generator could read the refined prompt at all: an unreadable prompt returns the
  source image unedited and gets 0);
- task: the executor follows the regenerated subgoal image in MuJoCo from the source state;
  1 when the step's relation then holds in physics (and, on the last step, the whole task).
On a ground-truth success the regeneration is skipped and semantic = quality = task = 0.5 (the
paper's rule, extended to the task term). A wrong "success" on a failed step gets 0 for the
three (the faulty image would be accepted). A malformed answer gets 0 everywhere.

Default weighting (the paper's, plus the task term):
    0.5*format + 0.5*(0.2*accuracy + 0.6*semantic + 0.2*quality) + task_weight*task
The weights are linear, so trl gets one function per term with `reward_weights` and logs
each term (`rewards/<term>/mean`); `combined_reward` gives the single weighted number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from interleave_robot.errors import ConfigError, OutputFormatError
from interleave_robot.parsing import decode_answer, parse_verdict

TERMS = ("format", "accuracy", "semantic", "quality", "task")
_THINK_THEN_ANSWER = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)


@dataclass
class RewardConfig:
    """Weights of the combined reward and how the simulator-backed terms are computed."""

    format_weight: float = 0.5
    format_partial: bool = False  # shaped format credit (tags 0.25 + 0.25, verdict 0.5): cold starts from scratch
    step_weight: float = 0.5  # multiplies the paper's inner sum (accuracy, semantic, quality)
    accuracy_weight: float = 0.2
    semantic_weight: float = 0.6
    quality_weight: float = 0.2
    task_weight: float = 0.5
    use_task: bool = True  # False skips the executor (the task term is then not computed: None)
    workers: int = 1  # processes for the simulator-backed terms (1: in this process)
    fault_rate: float = 0.3  # the simulated generator's base fault rate when regenerating
    seed: int = 0
    log_path: str = ""  # JSONL file receiving every evaluation's terms ("" = none)

    def __post_init__(self):
        for name in ("format_weight", "step_weight", "accuracy_weight", "semantic_weight", "quality_weight",
                     "task_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"RewardConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"RewardConfig.workers must be in 1..64, got {self.workers}")
        if not 0 <= self.fault_rate <= 1:
            raise ConfigError(f"RewardConfig.fault_rate must be in [0, 1], got {self.fault_rate}")

    def term_weights(self) -> dict[str, float]:
        """The weight of each term in the combined reward (linear)."""
        return {"format": self.format_weight, "accuracy": self.step_weight * self.accuracy_weight,
                "semantic": self.step_weight * self.semantic_weight,
                "quality": self.step_weight * self.quality_weight,
                "task": self.task_weight if self.use_task else 0.0}


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


class SimRewards:
    """The simulator-backed terms (semantic, quality, task) plus the combined reward, as trl functions.

    One regeneration per (row, answer) is shared by the three terms through a cache, and the
    regenerations of a batch run in parallel on `config.workers` processes (step_scoring).
    """

    def __init__(self, config: RewardConfig | None = None):
        from interleave_robot.training.step_scoring import StepScorerPool

        self.config = config or RewardConfig()
        self.pool = StepScorerPool(self.config)

    def _terms(self, completions, columns: dict) -> list[dict]:
        texts = [completion_text(c) for c in completions]
        return self.pool.score_batch(texts, columns)

    def term_function(self, term: str):
        """A trl reward function returning `term` for each completion (named `<term>_reward`)."""
        if term not in ("semantic", "quality", "task"):
            raise ConfigError(f"simulator terms are semantic, quality, task; got {term!r}")

        def reward(prompts, completions, **columns):
            return [t[term] for t in self._terms(completions, columns)]

        reward.__name__ = f"{term}_reward"
        return reward

    def functions(self) -> tuple[list, list[float]]:
        """(reward functions, weights) for GRPOConfig: one per term, logged separately by trl."""
        weights = self.config.term_weights()
        fmt = partial_format_reward if self.config.format_partial else format_reward
        funcs = [fmt, accuracy_reward, self.term_function("semantic"), self.term_function("quality")]
        terms = ["format", "accuracy", "semantic", "quality"]
        if self.config.use_task:
            funcs.append(self.term_function("task"))
            terms.append("task")
        return funcs, [weights[t] for t in terms]

    def combined_reward(self, prompts, completions, **columns) -> list[float]:
        """The weighted sum of every term for each completion."""
        return [combine(t, self.config) for t in self.all_terms(completions, **columns)]

    def all_terms(self, completions, **columns) -> list[dict]:
        """Every term of every completion, as dicts (for evaluation and logs)."""
        texts = [completion_text(c) for c in completions]
        sim = self.pool.score_batch(texts, columns)
        return [{"format": format_score(t, self.config.format_partial), "accuracy": accuracy_score(t, s), **terms}
                for t, s, terms in zip(texts, columns["success"], sim)]

    def close(self) -> None:
        self.pool.close()


def combine(terms: dict, config: RewardConfig) -> float:
    """The weighted sum; a term that is None (not computed) counts 0."""
    return float(sum(w * (terms.get(name) or 0.0) for name, w in config.term_weights().items()))

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

from interleave_robot.errors import ConfigError
from interleave_robot.training.rewards.config import RewardConfig, class_weight, combine
from interleave_robot.training.rewards.step_scoring import StepScorerPool
from interleave_robot.training.rewards.text import (accuracy_score, completion_text, format_score, format_reward,
                                                    partial_format_reward)


class SimRewards:
    """The simulator-backed terms (semantic, quality, task) plus the combined reward, as trl functions.

    One regeneration per (row, answer) is shared by the three terms through a cache, and the
    regenerations of a batch run in parallel on `config.workers` processes (step_scoring).
    """

    def __init__(self, config: RewardConfig | None = None):
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
        funcs = [fmt, self.accuracy_reward, self.term_function("semantic"), self.term_function("quality")]
        terms = ["format", "accuracy", "semantic", "quality"]
        if self.config.use_task:
            funcs.append(self.term_function("task"))
            terms.append("task")
        return funcs, [weights[t] for t in terms]

    def accuracy_reward(self, prompts, completions, success, **columns) -> list[float]:
        """Accuracy term, class-balanced when the config asks (the collapse guard)."""
        return [accuracy_score(completion_text(c), s) * class_weight(self.config, s) for c, s in zip(completions, success)]

    def combined_reward(self, prompts, completions, **columns) -> list[float]:
        """The weighted sum of every term for each completion."""
        return [combine(t, self.config) for t in self.all_terms(completions, **columns)]

    def all_terms(self, completions, **columns) -> list[dict]:
        """Every term of every completion, as dicts (for evaluation and logs)."""
        texts = [completion_text(c) for c in completions]
        sim = self.pool.score_batch(texts, columns)
        return [{"format": format_score(t, self.config.format_partial), "accuracy": accuracy_score(t, s) * class_weight(self.config, s),
                 **terms}
                for t, s, terms in zip(texts, columns["success"], sim)]

    def close(self) -> None:
        self.pool.close()

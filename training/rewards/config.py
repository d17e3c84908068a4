"""The reward configuration: weights of the combined reward and how the simulator terms run.

A leaf module (no imports from the rest of the package), so the scorer, the trl functions and
the recipes all read it without an import cycle.
"""
from __future__ import annotations

from dataclasses import dataclass

from interleave_robot.errors import ConfigError

TERMS = ("format", "accuracy", "semantic", "quality", "task")


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
    # Collapse guard (issue 10): a GRPO run on the paper's terms collapsed to "failed" for every
    # image, because a rejection of a correct image cost nothing (semantic = quality = task = 0.5
    # on every ground-truth success) and most images are faulty. With `balance_classes`, the
    # accuracy term of a row is scaled by 0.5 / (its class's share of the data), so any constant
    # answer earns the accuracy of a coin flip, and rejecting a correct image scores 0 on the
    # simulator terms (it wastes a regeneration) instead of 0.5.
    balance_classes: bool = False
    failed_share: float = 0.5  # share of ground-truth failures in the training data (set by run_grpo)

    def __post_init__(self):
        if not 0.01 <= self.failed_share <= 0.99:
            raise ConfigError(f"RewardConfig.failed_share must be in [0.01, 0.99], got {self.failed_share}")
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


def class_weight(config: RewardConfig, success: bool) -> float:
    """The accuracy term's scale for a row of this ground truth (1 without class balancing)."""
    if not config.balance_classes:
        return 1.0
    return 0.5 / (1.0 - config.failed_share if success else config.failed_share)


def combine(terms: dict, config: RewardConfig) -> float:
    """The weighted sum; a term that is None (not computed) counts 0."""
    return float(sum(w * (terms.get(name) or 0.0) for name, w in config.term_weights().items()))

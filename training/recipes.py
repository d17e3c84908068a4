"""Training recipes: one YAML file per run, read into validated dataclasses.

    kind: sft            # or grpo
    target: critic       # or planner (SFT only)
    model: {path: runs/tiny, build_tiny: {hidden_size: 64}, lora: {enabled: false}}
    data: runs/data/critic-sft
    output_dir: runs/critic-sft
    ...

Unknown keys and bad values raise ConfigError naming them. `trl_options` passes further
options straight to trl's SFTConfig/GRPOConfig (e.g. `deepspeed`, `max_length`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from interleave_robot.config import build_config
from interleave_robot.errors import ConfigError

from interleave_robot.training.modeling import ModelConfig
from interleave_robot.training.prompts import PromptConfig
from interleave_robot.training.rewards.config import RewardConfig

TARGETS = ("critic", "planner")
MAX_RECIPE_BYTES = 256 * 1024


def _nested(value, cls):
    return build_config(cls, value) if isinstance(value, dict) else value


@dataclass
class TrainCommon:
    """Fields every recipe has."""

    kind: str = "sft"
    target: str = "critic"
    model: ModelConfig | dict = field(default_factory=dict)
    data: str = ""
    split: str = "train"
    output_dir: str = ""
    prompts: PromptConfig | dict = field(default_factory=dict)
    max_steps: int = 100
    learning_rate: float = 1e-4
    batch_size: int = 8
    grad_accum: int = 1
    seed: int = 0
    max_rows: int | None = None  # use only the first N rows of the split
    logging_steps: int = 10
    bf16: bool = False
    gradient_checkpointing: bool = False  # trl turns it on by default; it only costs time on tiny models
    trl_options: dict = field(default_factory=dict)

    def __post_init__(self):
        self.model = _nested(self.model, ModelConfig)
        self.prompts = _nested(self.prompts, PromptConfig)
        if self.target not in TARGETS:
            raise ConfigError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if not self.data:
            raise ConfigError("data (a dataset directory from `interleave-robot data build`) is required")
        if not self.output_dir:
            raise ConfigError("output_dir is required")
        for name in ("max_steps", "batch_size", "grad_accum", "logging_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.learning_rate < 1:
            raise ConfigError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.max_rows is not None and self.max_rows < 1:
            raise ConfigError(f"max_rows must be >= 1, got {self.max_rows}")


@dataclass
class SFTRecipe(TrainCommon):
    """trl SFTTrainer on critic-sft or planner-sft rows (loss on the answer only)."""

    kind: str = "sft"
    num_epochs: float | None = None  # None: train max_steps steps
    max_length: int | None = None
    warmup_steps: int = 0
    freeze_vision: bool = False  # train the language side only (e.g. after a vision pretraining)
    verdict_weight: float = 1.0  # critic: the loss on the verdict tokens counts this many times (verdict_loss.py)
    verdict_weight_from_step: int = 0  # ... from this step on (plain loss before: learn to read first)

    def __post_init__(self):
        super().__post_init__()
        if not 1.0 <= self.verdict_weight <= 1000.0:
            raise ConfigError(f"verdict_weight must be in [1, 1000], got {self.verdict_weight}")
        if self.verdict_weight_from_step < 0:
            raise ConfigError(f"verdict_weight_from_step must be >= 0, got {self.verdict_weight_from_step}")
        if self.kind != "sft":
            raise ConfigError(f"an SFT recipe has kind: sft, got {self.kind!r}")


@dataclass
class GRPORecipe(TrainCommon):
    """trl GRPOTrainer on critic-rl rows with the simulator's reward functions."""

    kind: str = "grpo"
    num_generations: int = 4
    max_completion_length: int = 64
    temperature: float = 1.0
    beta: float = 0.0
    rewards: RewardConfig | dict = field(default_factory=dict)
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.3

    def __post_init__(self):
        super().__post_init__()
        self.rewards = _nested(self.rewards, RewardConfig)
        if self.kind != "grpo":
            raise ConfigError(f"a GRPO recipe has kind: grpo, got {self.kind!r}")
        if self.target != "critic":
            raise ConfigError(f"GRPO trains the critic only, got target {self.target!r}")
        if self.num_generations < 2:
            raise ConfigError(f"num_generations must be >= 2 (GRPO compares a group), got {self.num_generations}")
        if self.batch_size % self.num_generations:
            raise ConfigError(f"batch_size {self.batch_size} must be a multiple of num_generations "
                              f"{self.num_generations}")
        if self.vllm_mode not in ("colocate", "server"):
            raise ConfigError(f"vllm_mode must be colocate or server, got {self.vllm_mode!r}")


RECIPES = {"sft": SFTRecipe, "grpo": GRPORecipe}


def load_recipe(path: str | Path, expect: str | None = None, overrides: dict | None = None):
    """Read a YAML recipe; `expect` ("sft"/"grpo") checks its kind; overrides replace top-level keys."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe file not found: {path}")
    if path.stat().st_size > MAX_RECIPE_BYTES:
        raise ConfigError(f"recipe file {path} is over {MAX_RECIPE_BYTES} bytes")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {path} must be a mapping, got {type(data).__name__}")
    data.update(overrides or {})
    kind = data.get("kind", expect or "sft")
    if expect is not None and kind != expect:
        raise ConfigError(f"recipe {path} has kind {kind!r}, but `train {expect}` was asked")
    if kind not in RECIPES:
        raise ConfigError(f"recipe {path}: kind must be one of {', '.join(RECIPES)}, got {kind!r}")
    return build_config(RECIPES[kind], data)

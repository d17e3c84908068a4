"""Loading (or building) the model to train: any image-text-to-text checkpoint from a local dir.

`ModelConfig.path` names a local checkpoint directory. With `build_tiny` set and no checkpoint
there yet, a tiny Qwen2-VL is built from config first (the CPU recipe trains from scratch).
Loading is offline, safetensors only, remote code off unless enabled. LoRA (peft) is optional.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from interleave_robot.backends.tiny_vlm import DEFAULT_CORPUS, TinyVLMSpec, build_tiny_vlm, image_only_processor_class
# The processors and position schemes the critic backend loads with, so training and inference agree.
from interleave_robot.backends.vlm_transformers import POSITION_SCHEMES, PROCESSORS, apply_position_scheme
from interleave_robot.config import build_config
from interleave_robot.errors import CheckpointNotFoundError, ConfigError

# Function-level imports here are only torch, transformers and peft (heavy, optional: the [train] extra).

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")  # training needs an explicit dtype (no "auto")


@dataclass
class LoraConfig:
    """peft LoRA options; `enabled` False trains every parameter."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])

    def __post_init__(self):
        if self.r < 1:
            raise ConfigError(f"lora.r must be >= 1, got {self.r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ConfigError("lora.target_modules must name at least one module")


@dataclass
class ModelConfig:
    """The checkpoint to train. `build_tiny`: TinyVLMSpec options used when `path` has no model yet."""

    path: str = ""
    dtype: str = "float32"
    processor: str = "image-only"
    trust_remote_code: bool = False
    build_tiny: dict | None = None
    build_seed: int = 0
    lora: LoraConfig = field(default_factory=LoraConfig)
    position_ids: str = "auto"  # "auto" (what the checkpoint records), "mrope" or "1d"

    def __post_init__(self):
        if self.position_ids not in POSITION_SCHEMES:
            raise ConfigError(f"model.position_ids must be one of {', '.join(POSITION_SCHEMES)}, "
                              f"got {self.position_ids!r}")
        if not self.path:
            raise ConfigError("model.path (a local checkpoint directory) is required")
        if self.dtype not in DTYPES:
            raise ConfigError(f"model.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.processor not in PROCESSORS:
            raise ConfigError(f"model.processor must be one of {', '.join(PROCESSORS)}, got {self.processor!r}")
        if isinstance(self.lora, dict):
            self.lora = build_config(LoraConfig, self.lora)


def ensure_checkpoint(config: ModelConfig, corpus: list[str] | None = None) -> Path:
    """The checkpoint directory, building the tiny model there first when asked and missing.

    `corpus`: texts the tiny model's BPE tokenizer is trained on (with the default corpus)."""
    directory = Path(config.path).expanduser()
    if not (directory / "config.json").is_file():
        if config.build_tiny is None:
            raise CheckpointNotFoundError(f"no checkpoint at {directory} (and model.build_tiny is not set)")
        spec = build_config(TinyVLMSpec, config.build_tiny)
        log.info("building a tiny VLM from config at %s", directory)
        build_tiny_vlm(directory, spec, corpus=[*DEFAULT_CORPUS, *(corpus or [])], seed=config.build_seed)
    return directory


def load_processor(directory: Path, processor: str = "image-only", trust_remote_code: bool = False):
    """The checkpoint's processor; "image-only" drops the video processor (no torchvision here)."""
    from transformers import AutoConfig, AutoProcessor
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

    common = dict(local_files_only=True, trust_remote_code=trust_remote_code)
    if processor == "auto":
        return AutoProcessor.from_pretrained(directory, **common)
    model_config = AutoConfig.from_pretrained(directory, **common)
    if type(model_config) not in PROCESSOR_MAPPING:
        raise ConfigError(f"processor=image-only: no processor class known for {type(model_config).__name__}")
    return image_only_processor_class(PROCESSOR_MAPPING[type(model_config)]).from_pretrained(directory, **common)


def load_model_and_processor(config: ModelConfig, corpus: list[str] | None = None):
    """(model, processor) ready to train; LoRA adapters attached when enabled."""
    import torch
    from transformers import AutoModelForImageTextToText

    directory = ensure_checkpoint(config, corpus)
    processor = load_processor(directory, config.processor, config.trust_remote_code)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[config.dtype]
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            directory, dtype=dtype, use_safetensors=True, local_files_only=True,
            trust_remote_code=config.trust_remote_code)
    except OSError as exc:
        raise CheckpointNotFoundError(f"cannot load checkpoint {directory}: {exc}") from None
    apply_position_scheme(model, config.position_ids)
    if config.lora.enabled:
        from peft import LoraConfig as PeftLoraConfig
        from peft import get_peft_model

        model = get_peft_model(model, PeftLoraConfig(
            r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules, task_type="CAUSAL_LM"))
    return model, processor


def save_trained(model, processor, out_dir: Path) -> Path:
    """Save a loadable checkpoint (LoRA merged into the base weights), safetensors only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    return out_dir

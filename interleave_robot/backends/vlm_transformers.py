"""In-process VLM chat backend: any `AutoModelForImageTextToText` checkpoint, loaded offline.

The checkpoint is a local directory or a repo id already in the local Hugging Face cache;
nothing is downloaded. Weights load from safetensors only, remote code is off unless the
config enables it, and the processor's chat template renders the messages.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from interleave_robot.errors import BackendError, CheckpointNotFoundError, ConfigError
from interleave_robot.backends.tiny_vlm import POSITION_SCHEME_KEY, image_only_processor_class
from interleave_robot.backends.vlm_base import ChatMessage, VLMChat

DTYPES = ("auto", "float32", "bfloat16", "float16")
PROCESSORS = ("auto", "image-only")
# "auto": what the checkpoint's config records (`position_scheme`, written by tiny_vlm), else the
# architecture's own (M-RoPE for Qwen-VL). "1d": plain positions 0..len-1 for every token, image
# tokens included. Measured on a tiny Qwen2-VL: with M-RoPE it never learned to read cell
# positions from 128 px renders (accuracy 0.000 after 5 min), with 1D it read 0.71 at 3 min.
POSITION_SCHEMES = ("auto", "mrope", "1d")


@dataclass
class TransformersVLMConfig:
    """Options of the transformers chat backend.

    processor: "auto" loads the checkpoint's processor with AutoProcessor; "image-only" loads
    the same processor class without its video processor, for hosts without torchvision
    (Qwen-VL processors need torchvision only for video).
    """

    model: str = ""  # local directory, or a repo id present in the local HF cache
    dtype: str = "auto"
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ...
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0: greedy decoding
    top_p: float = 1.0
    seed: int | None = None  # sampling seed (only used when temperature > 0)
    processor: str = "auto"
    trust_remote_code: bool = False
    revision: str | None = None  # cache revision for a repo id
    cache_dir: str | None = None  # HF hub cache to look in (default: the standard one)
    position_ids: str = "auto"  # one of POSITION_SCHEMES

    def __post_init__(self):
        if not self.model:
            raise ConfigError("transformers VLM: option 'model' (a checkpoint directory) is required")
        if self.dtype not in DTYPES:
            raise ConfigError(f"transformers VLM: dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.processor not in PROCESSORS:
            raise ConfigError(f"transformers VLM: processor must be one of {', '.join(PROCESSORS)}, "
                              f"got {self.processor!r}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"transformers VLM: max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ConfigError(f"transformers VLM: temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"transformers VLM: top_p must be in (0, 1], got {self.top_p}")
        if self.position_ids not in POSITION_SCHEMES:
            raise ConfigError(f"transformers VLM: position_ids must be one of {', '.join(POSITION_SCHEMES)}, "
                              f"got {self.position_ids!r}")
        if not (self.device == "cpu" or self.device.startswith("cuda") or self.device == "mps"):
            raise ConfigError(f"transformers VLM: device must be cpu, cuda[:N] or mps, got {self.device!r}")


def checkpoint_position_scheme(model) -> str:
    """The scheme a loaded model's config records ("mrope" when it records none)."""
    config = model.config
    return getattr(config, POSITION_SCHEME_KEY, None) or getattr(
        getattr(config, "text_config", None), POSITION_SCHEME_KEY, None) or "mrope"


def apply_position_scheme(model, scheme: str = "auto") -> str:
    """Make `model` use `scheme` in every forward and generate call; returns the scheme applied.

    For "1d" on a Qwen-VL-class model (one whose inner model has `get_rope_index`), the rope
    index is replaced on that instance by plain cumulative positions over the attention mask,
    with zero deltas: training, teacher-forced scoring and incremental generation then all see
    positions 0..n-1 (left padding skipped). Other architectures keep their own positions.
    """
    if scheme not in POSITION_SCHEMES:
        raise ConfigError(f"position scheme must be one of {', '.join(POSITION_SCHEMES)}, got {scheme!r}")
    if scheme == "auto":
        scheme = checkpoint_position_scheme(model)
    owners = [m for m in model.modules() if callable(getattr(m, "get_rope_index", None))]  # any peft wrapping
    if not owners:
        return scheme
    setattr(model.config, POSITION_SCHEME_KEY, scheme)  # a saved copy records what it was trained with
    if scheme != "1d":
        return scheme
    import torch

    def linear_rope_index(input_ids, mm_token_type_ids=None, image_grid_thw=None, video_grid_thw=None,
                          attention_mask=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0).to(input_ids.device)
        deltas = torch.zeros(input_ids.shape[0], 1, dtype=torch.long, device=input_ids.device)
        return positions.unsqueeze(0).expand(3, -1, -1), deltas

    for owner in owners:
        owner.get_rope_index = linear_rope_index
    return scheme


def resolve_checkpoint(model: str, revision: str | None = None, cache_dir: str | None = None) -> Path:
    """A local checkpoint directory for `model` (a path or a cached repo id); never downloads."""
    path = Path(model).expanduser()
    if path.is_dir():
        directory = path
    elif path.is_absolute() or model.startswith(".") or model.count("/") != 1:
        raise CheckpointNotFoundError(f"checkpoint directory not found: {model}")
    else:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            directory = Path(snapshot_download(model, revision=revision, cache_dir=cache_dir, local_files_only=True))
        except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
            raise CheckpointNotFoundError(
                f"checkpoint {model!r} is neither a directory nor in the local Hugging Face cache "
                "(nothing is downloaded)") from None
    if not (directory / "config.json").is_file():
        raise CheckpointNotFoundError(f"checkpoint {directory} has no config.json")
    if not any(directory.glob("*.safetensors")):
        raise CheckpointNotFoundError(f"checkpoint {directory} has no .safetensors weights "
                                      "(only safetensors are loaded)")
    return directory


class TransformersVLM(VLMChat):
    """Chat with an image-text-to-text model in this process (thread-safe: one generate at a time)."""

    config_class = TransformersVLMConfig

    def __init__(self, config: TransformersVLMConfig):
        self.config = config
        self.directory = resolve_checkpoint(config.model, config.revision, config.cache_dir)
        import torch

        if config.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"transformers VLM: device {config.device!r} asked for, but torch sees no CUDA GPU")
        from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor
        from transformers.models.auto.processing_auto import PROCESSOR_MAPPING
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        common = dict(local_files_only=True, trust_remote_code=config.trust_remote_code)
        try:
            model_config = AutoConfig.from_pretrained(self.directory, **common)
            if config.processor == "auto":
                self.processor = self._auto_processor(AutoProcessor, common)
            else:
                if type(model_config) not in PROCESSOR_MAPPING:
                    raise ConfigError(f"processor=image-only: no processor class known for "
                                      f"{type(model_config).__name__}")
                base = PROCESSOR_MAPPING[type(model_config)]
                self.processor = image_only_processor_class(base).from_pretrained(self.directory, **common)
            dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16,
                     "float16": torch.float16}[config.dtype]
            self.model = AutoModelForImageTextToText.from_pretrained(
                self.directory, dtype=dtype, use_safetensors=True, **common).to(config.device).eval()
            self.position_scheme = apply_position_scheme(self.model, config.position_ids)
        except (OSError, ValueError, KeyError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise BackendError(f"cannot load checkpoint {self.directory}: {exc}") from None
        if self.processor.chat_template is None:
            raise CheckpointNotFoundError(f"checkpoint {self.directory} has no chat template")
        self._lock = threading.Lock()
        self._torch = torch

    def _auto_processor(self, auto_class, common: dict):
        try:
            return auto_class.from_pretrained(self.directory, **common)
        except (ImportError, OSError, ValueError) as exc:
            # Qwen-VL processors need torchvision (and a video processor config) for video alone.
            raise BackendError(f"cannot load the processor of {self.directory}: {str(exc).strip()[:300]} "
                               "(on hosts without torchvision, or for checkpoints without a video processor, "
                               "set processor=image-only)") from None

    def _render(self, messages: list[ChatMessage]):
        from PIL import Image

        conversation, images = [], []
        for message in messages:
            content = []
            for part in message.parts:
                if isinstance(part, str):
                    content.append({"type": "text", "text": part})
                else:
                    content.append({"type": "image"})
                    images.append(Image.fromarray(part))
            conversation.append({"role": message.role, "content": content})
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        return self.processor(text=[text], images=images or None, return_tensors="pt")

    def chat(self, messages: list[ChatMessage]) -> str:
        """Greedy (or sampled, with temperature > 0) answer to the conversation, special tokens removed."""
        if not messages:
            raise ConfigError("chat needs at least one message")
        cfg = self.config
        sampling = dict(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p) if cfg.temperature > 0 \
            else dict(do_sample=False)
        with self._lock:
            inputs = self._render(messages).to(cfg.device)
            if cfg.seed is not None:
                self._torch.manual_seed(cfg.seed)
            try:
                with self._torch.inference_mode():
                    output = self.model.generate(**inputs, max_new_tokens=cfg.max_new_tokens, **sampling)
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"generation failed: {exc}") from None
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0]

    def close(self) -> None:
        self.model = None
        self.processor = None

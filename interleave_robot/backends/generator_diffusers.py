"""Image generator backend on diffusers pipelines, loaded offline from a local directory.

The pipeline class comes from an explicit table (`PIPELINES`), chosen by the config's
`pipeline` field. With a source image the pipeline edits it; without one it draws from text
alone, with the table's text-to-image pipeline (built on the same components with
`from_pipe`) or the edit pipeline itself called without an image.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interleave_robot.agents import Generator
from interleave_robot.config import json_object_option
from interleave_robot.errors import BackendError, CheckpointNotFoundError, ConfigError
from interleave_robot.images import check_image
from interleave_robot.types import GenerationRequest, GenerationResult


@dataclass(frozen=True)
class PipelineKind:
    """How one family of diffusers pipelines is driven."""

    edit_class: str  # diffusers class name, loaded with from_pretrained
    text_to_image_class: str | None  # None: call the edit pipeline with image=None
    text_to_image: bool = True  # False: the family cannot draw without a source image
    takes_size: bool = True  # False: the call has no height/width (output size = source size)
    max_area: bool = False  # the pipeline rescales height x width to `max_area`: pass width*height as that


PIPELINES: dict[str, PipelineKind] = {
    "flux2-klein": PipelineKind("Flux2KleinPipeline", None),
    # Kontext also snaps source images to its preferred ~1MP resolutions unless the call passes
    # _auto_resize=False (extra_call_kwargs), which small test images need.
    "flux-kontext": PipelineKind("FluxKontextPipeline", None, max_area=True),
    "qwen-image-edit": PipelineKind("QwenImageEditPipeline", "QwenImagePipeline"),
    # The InstructPix2Pix UNet takes the source latents as extra input channels: edit only.
    "instruct-pix2pix": PipelineKind("StableDiffusionInstructPix2PixPipeline", None, text_to_image=False,
                                     takes_size=False),
}
DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class DiffusersGeneratorConfig:
    """Options of the diffusers generator. `extra_call_kwargs` go to every pipeline call as they are
    (e.g. image_guidance_scale for instruct-pix2pix, true_cfg_scale for qwen-image-edit)."""

    model: str = ""  # local directory saved with save_pretrained
    pipeline: str = "flux2-klein"
    num_inference_steps: int = 4
    guidance_scale: float = 2.5
    width: int = 512
    height: int = 512
    dtype: str = "bfloat16"
    device: str = "cpu"
    seed_offset: int = 0  # added to each request's seed
    extra_call_kwargs: dict | str = field(default_factory=dict)  # dict, or a JSON object string

    def __post_init__(self):
        if not self.model:
            raise ConfigError("diffusers generator: option 'model' (a pipeline directory) is required")
        if self.pipeline not in PIPELINES:
            raise ConfigError(f"diffusers generator: pipeline must be one of {', '.join(PIPELINES)}, "
                              f"got {self.pipeline!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"diffusers generator: dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not 1 <= self.num_inference_steps <= 1000:
            raise ConfigError(f"diffusers generator: num_inference_steps must be in 1..1000, "
                              f"got {self.num_inference_steps}")
        for name, value in (("width", self.width), ("height", self.height)):
            if not 16 <= value <= 4096 or value % 16:
                raise ConfigError(f"diffusers generator: {name} must be a multiple of 16 in 16..4096, got {value}")
        if not (self.device in ("cpu", "mps") or self.device.startswith("cuda")):
            raise ConfigError(f"diffusers generator: device must be cpu, cuda[:N] or mps, got {self.device!r}")
        if self.guidance_scale < 0:
            raise ConfigError(f"diffusers generator: guidance_scale must be >= 0, got {self.guidance_scale}")
        self.extra_call_kwargs = json_object_option("diffusers generator: extra_call_kwargs", self.extra_call_kwargs)


class DiffusersGenerator(Generator):
    """Edit (or draw) an image with a diffusers pipeline. One call at a time (pipelines are not re-entrant)."""

    config_class = DiffusersGeneratorConfig

    def __init__(self, config: DiffusersGeneratorConfig):
        directory = Path(config.model).expanduser()
        if not (directory / "model_index.json").is_file():
            raise CheckpointNotFoundError(f"diffusers pipeline directory not found (no model_index.json): {directory}")
        import diffusers
        import torch
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        if config.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"diffusers generator: device {config.device!r} asked for, but torch sees no CUDA GPU")
        self.config = config
        self.kind = PIPELINES[config.pipeline]
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        self._torch = torch
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[config.dtype]
        # Class names come from our own table, never from user input.
        edit_class = getattr(diffusers, self.kind.edit_class)
        try:
            self.pipe = edit_class.from_pretrained(directory, dtype=dtype, use_safetensors=True,
                                                   local_files_only=True).to(config.device)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"cannot load {self.kind.edit_class} from {directory}: {exc}") from None
        self.pipe.set_progress_bar_config(disable=True)
        self.text_pipe = self.pipe
        if self.kind.text_to_image_class is not None:
            text_class = getattr(diffusers, self.kind.text_to_image_class)
            self.text_pipe = text_class.from_pipe(self.pipe)
            self.text_pipe.set_progress_bar_config(disable=True)
        self._lock = threading.Lock()

    def _source(self, image: np.ndarray):
        from PIL import Image

        # The configured size is the output size; editing at that size keeps every step's image the same shape.
        source = Image.fromarray(check_image(image, "source image"))
        if source.size != (self.config.width, self.config.height):
            source = source.resize((self.config.width, self.config.height), Image.Resampling.BICUBIC)
        return source

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Edit request.source_image by request.prompt (or draw from text when it is None)."""
        cfg = self.config
        if not request.prompt.strip():
            raise BackendError("the generation prompt is empty")
        kwargs = dict(prompt=request.prompt, num_inference_steps=cfg.num_inference_steps,
                      guidance_scale=cfg.guidance_scale, output_type="np", **cfg.extra_call_kwargs)
        if self.kind.takes_size:
            kwargs.update(height=cfg.height, width=cfg.width)
        if self.kind.max_area:
            kwargs["max_area"] = cfg.height * cfg.width
        if request.source_image is None:
            if not self.kind.text_to_image:
                raise BackendError(f"pipeline {cfg.pipeline} cannot generate without a source image")
            pipe = self.text_pipe
        else:
            pipe = self.pipe
            kwargs["image"] = self._source(request.source_image)
        with self._lock:
            generator = self._torch.Generator(device="cpu").manual_seed(request.seed + cfg.seed_offset)
            try:
                output = pipe(generator=generator, **kwargs)
            except (RuntimeError, ValueError, TypeError) as exc:
                raise BackendError(f"{cfg.pipeline} generation failed: {exc}") from None
        image = (np.clip(output.images[0], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return GenerationResult(image=image, metadata={"pipeline": cfg.pipeline, "mode":
                                                       "edit" if request.source_image is not None else "text"})

    def close(self) -> None:
        self.pipe = None
        self.text_pipe = None

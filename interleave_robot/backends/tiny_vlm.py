"""Build a tiny Qwen2-VL-class model from config, with its own tokenizer and processor, offline.

No weights can be downloaded on these machines, so tests and training smoke runs build a
model of the real architecture (Qwen2VLForConditionalGeneration) at toy size: a byte-level
BPE tokenizer trained on a small corpus, Qwen's chat tokens, an image processor with a small
patch size, and a chat template. The saved directory loads through `TransformersVLM` with
`processor=image-only` (torchvision is absent here and Qwen-VL processors want a video
processor; see `image_only_processor_class`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from interleave_robot.errors import ConfigError

# Qwen's special tokens, so the real processor/model code paths find what they expect.
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]

# Our own compact chat template: content may be a string or a list of {"type": "image"|"text"} parts.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# The same, with each message's text parts rendered before its images. With 1D positions an
# answer that describes the images (a grid cell per image token) then starts at a fixed
# distance from every image token, whatever the length of the instruction text.
CHAT_TEMPLATE_TEXT_FIRST = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
POSITION_SCHEMES = ("mrope", "1d")
POSITION_SCHEME_KEY = "position_scheme"  # the config.json key a checkpoint records its scheme under

# Enough text for a BPE that covers the planner/critic answer format in few tokens.
DEFAULT_CORPUS = [
    "<think>The red block must go on the blue block.</think>",
    '<answer>{"step_number": 1, "step_name": "stack red", "instruction": "Put the red block on the blue block",'
    ' "prompt": "Move the red block onto the blue block", "auxiliary_text": ""}</answer>',
    '<answer>{"previous_step_success": true, "refine_prompt": ""}</answer>',
    '<answer>{"previous_step_success": false, "refine_prompt": "Place the green cube left of the bin"}</answer>',
    "stack sort line pick place red green blue yellow block cube bin plate left right on in next to",
    "You are a planner. You are a critic. Look at the image before and after the edit.",
] * 4


@dataclass
class TinyVLMSpec:
    """Sizes of the tiny model. Defaults: ~0.3M parameters, 16 image tokens for a 64x64 image."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    vision_depth: int = 2
    vision_embed_dim: int = 32
    vision_heads: int = 2
    patch_size: int = 8
    vocab_size: int = 512  # BPE target size (special tokens included)
    image_side: int = 64  # images are resized to about image_side x image_side
    # "1d": plain positions recorded in config.json and applied by every loader here
    # (vlm_transformers.apply_position_scheme); "mrope": Qwen2-VL's multimodal rotary positions.
    position_scheme: str = "1d"
    text_first: bool = False  # chat template renders a turn's text before its images
    # Init std of the vision tower. At 0.02 (transformers' default) a tiny tower's image tokens are
    # near copies of one another (spread across tokens ~3% of their norm): nothing to read.
    vision_init_std: float = 0.02

    def __post_init__(self):
        if self.position_scheme not in POSITION_SCHEMES:
            raise ConfigError(f"position_scheme must be one of {', '.join(POSITION_SCHEMES)}, "
                              f"got {self.position_scheme!r}")
        if self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 2:
            raise ConfigError(f"hidden_size {self.hidden_size} must split into {self.num_heads} heads of even size")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(f"num_heads {self.num_heads} must be a multiple of num_kv_heads {self.num_kv_heads}")
        if self.vision_embed_dim % self.vision_heads:
            raise ConfigError(f"vision_embed_dim {self.vision_embed_dim} must split into {self.vision_heads} heads")
        if self.image_side < 2 * self.patch_size:
            raise ConfigError(f"image_side {self.image_side} must be at least 2*patch_size ({2 * self.patch_size})")
        if self.vocab_size < 300:
            raise ConfigError(f"vocab_size {self.vocab_size} must be >= 300 (256 bytes + special tokens)")


def image_only_processor_class(base: type) -> type:
    """A subclass of a Qwen-VL processor class that has no video processor.

    Qwen-VL processors declare a video processor that needs torchvision; images need none.
    Dropping the attribute lets the processor load and run with only the image processor and
    tokenizer (the base __init__ receives video_processor=None and ProcessorMixin keeps the
    attributes this class declares).
    """
    attributes = [a for a in base.get_attributes() if a != "video_processor"]
    return type(f"ImageOnly{base.__name__}", (base,), {"get_attributes": classmethod(lambda cls: list(attributes))})


def train_tokenizer(corpus: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained offline, wrapped for transformers, with Qwen's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIAL_TOKENS[1:])


def build_tiny_vlm(directory: str | Path, spec: TinyVLMSpec | None = None, corpus: list[str] | None = None,
                   seed: int = 0) -> Path:
    """Create a tiny Qwen2-VL model + tokenizer + image-only processor and save it to `directory`.

    Returns the directory. Weights are saved as safetensors; the directory loads offline with
    `TransformersVLM(TransformersVLMConfig(model=directory, processor="image-only"))`.
    """
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil, Qwen2VLProcessor
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    spec = spec or TinyVLMSpec()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus or DEFAULT_CORPUS, spec.vocab_size)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    half_head = spec.hidden_size // spec.num_heads // 2
    mrope = [half_head - 2 * (half_head // 3), half_head // 3, half_head // 3]  # (t, h, w) split of rotary dims
    config = Qwen2VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=spec.hidden_size,
                         intermediate_size=spec.intermediate_size, num_hidden_layers=spec.num_layers,
                         num_attention_heads=spec.num_heads, num_key_value_heads=spec.num_kv_heads,
                         max_position_embeddings=2048, max_window_layers=spec.num_layers,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
                         bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"]),
        vision_config=dict(depth=spec.vision_depth, embed_dim=spec.vision_embed_dim, hidden_size=spec.hidden_size,
                           num_heads=spec.vision_heads, patch_size=spec.patch_size, spatial_merge_size=2,
                           temporal_patch_size=2, mlp_ratio=2, initializer_range=spec.vision_init_std),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    setattr(config, POSITION_SCHEME_KEY, spec.position_scheme)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(directory, safe_serialization=True)

    pixels = spec.image_side * spec.image_side
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=spec.patch_size, merge_size=2, temporal_patch_size=2,
        min_pixels=pixels // 4, max_pixels=pixels, size={"shortest_edge": pixels // 4, "longest_edge": pixels})
    processor = image_only_processor_class(Qwen2VLProcessor)(
        image_processor=image_processor, tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE_TEXT_FIRST if spec.text_first else CHAT_TEMPLATE)
    processor.save_pretrained(directory)
    # Record the standard processor class, so the directory looks like any Qwen2-VL checkpoint.
    for name in ("processor_config.json", "tokenizer_config.json"):
        path = directory / name
        data = json.loads(path.read_text())
        if "processor_class" in data:
            data["processor_class"] = Qwen2VLProcessor.__name__
            path.write_text(json.dumps(data, indent=2))
    return directory

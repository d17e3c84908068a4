"""TransformersVLM with a tiny Qwen2-VL built from config and saved to disk (real loading code, offline)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from interleave_robot.backends.vlm_base import ChatMessage
from interleave_robot.backends.vlm_transformers import TransformersVLM, TransformersVLMConfig, resolve_checkpoint
from interleave_robot.errors import BackendError, CheckpointNotFoundError, ConfigError, ImageError
from interleave_robot.registry import VLM_BACKENDS


def test_chat_with_two_images_is_deterministic(tiny_vlm, scene):
    messages = [ChatMessage("system", ["You are a critic."]),
                ChatMessage("user", [scene, scene[::-1].copy(), "Did the red block move?"])]
    first = tiny_vlm.chat(messages)
    assert isinstance(first, str)
    assert tiny_vlm.chat(messages) == first  # greedy decoding
    # The prompt reaches the model with one placeholder run per image (the processor expanded them).
    inputs = tiny_vlm._render(messages)
    assert inputs["image_grid_thw"].shape[0] == 2
    image_token = tiny_vlm.model.config.image_token_id
    assert int((inputs["input_ids"] == image_token).sum()) == int(inputs["image_grid_thw"].prod(dim=1).sum() // 4)


def test_generation_is_bounded_by_max_new_tokens(tiny_vlm, scene):
    inputs = tiny_vlm._render([ChatMessage("user", [scene, "hi"])])
    answer = tiny_vlm.chat([ChatMessage("user", [scene, "hi"])])
    ids = tiny_vlm.processor.tokenizer(answer)["input_ids"]
    assert len(ids) <= tiny_vlm.config.max_new_tokens
    assert inputs["input_ids"].shape[1] > 0


def test_text_only_and_sampling(tiny_vlm_dir):
    vlm = TransformersVLM(TransformersVLMConfig(model=str(tiny_vlm_dir), processor="image-only", max_new_tokens=6,
                                                temperature=0.8, seed=3))
    a = vlm.chat([ChatMessage("user", ["plan the task"])])
    b = vlm.chat([ChatMessage("user", ["plan the task"])])
    assert a == b  # same sampling seed, same answer
    vlm.close()


def test_loads_from_local_hf_cache(tiny_vlm_dir, tmp_path):
    """A repo id resolves in the local hub cache (layout models--org--name/snapshots/<rev>), never downloads."""
    repo = tmp_path / "hub" / "models--acme--tiny-vlm"
    revision = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_vlm_dir, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    assert resolve_checkpoint("acme/tiny-vlm", cache_dir=str(tmp_path / "hub")) == repo / "snapshots" / revision
    with pytest.raises(CheckpointNotFoundError, match="local Hugging Face cache"):
        resolve_checkpoint("acme/other", cache_dir=str(tmp_path / "hub"))


def test_missing_or_incomplete_checkpoint(tmp_path, tiny_vlm_dir):
    with pytest.raises(CheckpointNotFoundError, match="not found"):
        VLM_BACKENDS.build("transformers", {"model": str(tmp_path / "nope")})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointNotFoundError, match="config.json"):
        VLM_BACKENDS.build("transformers", {"model": str(empty)})
    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_vlm_dir, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(CheckpointNotFoundError, match="safetensors"):
        VLM_BACKENDS.build("transformers", {"model": str(no_weights)})


@pytest.mark.parametrize("options, message", [
    ({}, "required"),
    ({"model": "x", "dtype": "float8"}, "dtype"),
    ({"model": "x", "processor": "video"}, "processor"),
    ({"model": "x", "max_new_tokens": 0}, "max_new_tokens"),
    ({"model": "x", "device": "tpu"}, "device"),
    ({"model": "x", "temperature": -1}, "temperature"),
    ({"model": "x", "position_ids": "2d"}, "position_ids"),
    ({"model": "x", "nonsense": 1}, "unknown option"),
])
def test_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        VLM_BACKENDS.build("transformers", options)


def test_bad_messages_are_typed_errors(tiny_vlm):
    with pytest.raises(ConfigError):
        tiny_vlm.chat([])
    with pytest.raises(ConfigError, match="role"):
        ChatMessage("robot", ["hi"])
    with pytest.raises(ImageError):
        ChatMessage("user", [np.zeros((4, 4), dtype=np.uint8)])


def test_cuda_without_gpu_is_a_config_error(tiny_vlm_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has a GPU")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        VLM_BACKENDS.build("transformers", {"model": str(tiny_vlm_dir), "device": "cuda:0"})


def test_auto_processor_without_torchvision_names_the_fix(tiny_vlm_dir):
    """Qwen-VL's AutoProcessor wants torchvision for its video processor; the error says what to set."""
    import importlib.util

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed here")
    with pytest.raises(BackendError, match="processor=image-only"):
        VLM_BACKENDS.build("transformers", {"model": str(tiny_vlm_dir), "processor": "auto"})


def _positions(vlm: TransformersVLM, scene) -> "np.ndarray":
    """The (3, seq) rope positions the loaded model uses for a two-image prompt."""
    inputs = vlm._render([ChatMessage("user", [scene, scene, "before and after"])])
    positions, _ = vlm.model.model.get_rope_index(inputs["input_ids"], inputs.get("mm_token_type_ids"),
                                                  inputs["image_grid_thw"], None, inputs["attention_mask"])
    return positions[:, 0].numpy(), inputs["input_ids"].shape[1]


def test_position_scheme_recorded_by_the_builder_is_applied_on_load(tmp_path):
    from interleave_robot.backends.tiny_vlm import TinyVLMSpec, build_tiny_vlm

    scene = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)  # square: 2x2 image tokens
    spec = dict(hidden_size=32, num_layers=1, vision_depth=1, vision_embed_dim=16, vision_heads=2, image_side=32,
                vocab_size=320)
    linear = build_tiny_vlm(tmp_path / "linear", TinyVLMSpec(**spec, position_scheme="1d"))
    mrope = build_tiny_vlm(tmp_path / "mrope", TinyVLMSpec(**spec, position_scheme="mrope"))
    vlm = TransformersVLM(TransformersVLMConfig(model=str(linear), processor="image-only", max_new_tokens=4))
    positions, length = _positions(vlm, scene)
    assert vlm.position_scheme == "1d"
    assert (positions == np.arange(length)).all()  # every token, image tokens included, at 0..n-1
    assert isinstance(vlm.chat([ChatMessage("user", [scene, scene, "ok?"])]), str)  # generation runs on it
    vlm.close()
    vlm = TransformersVLM(TransformersVLMConfig(model=str(mrope), processor="image-only"))
    positions, length = _positions(vlm, scene)
    assert vlm.position_scheme == "mrope"
    assert positions[:, -1].max() < length - 1  # M-RoPE: image tokens share positions, the sequence ends earlier
    vlm.close()
    # The explicit option overrides what the checkpoint records.
    vlm = TransformersVLM(TransformersVLMConfig(model=str(mrope), processor="image-only", position_ids="1d"))
    positions, length = _positions(vlm, scene)
    assert (positions == np.arange(length)).all()
    vlm.close()


def test_text_first_template_puts_images_after_the_text(tmp_path):
    from interleave_robot.backends.tiny_vlm import TinyVLMSpec, build_tiny_vlm
    from interleave_robot.training.modeling import load_processor

    spec = TinyVLMSpec(hidden_size=32, num_layers=1, vision_depth=1, vision_embed_dim=16, vision_heads=2,
                       image_side=32, vocab_size=320, text_first=True)
    processor = load_processor(build_tiny_vlm(tmp_path / "m", spec))
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text",
                                                                                        "text": "Step"}]}],
                                         add_generation_prompt=True, tokenize=False)
    assert text.index("Step") < text.index("<|vision_start|>")
    assert text.endswith("<|vision_end|><|im_end|>\n<|im_start|>assistant\n")

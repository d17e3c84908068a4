"""The transformers and diffusers backends on a CUDA device (tiny models built from config).

Marked `gpu`: run with `pytest -m gpu` on a machine with a CUDA GPU; skipped elsewhere.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from interleave_robot.registry import GENERATORS, VLM_BACKENDS
from interleave_robot.types import GenerationRequest

from .tiny_models import FLUX2_KLEIN_CALL_KWARGS

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_transformers_vlm_on_cuda(tiny_vlm_dir, scene, dtype):
    from interleave_robot.backends.vlm_base import ChatMessage

    vlm = VLM_BACKENDS.build("transformers", {"model": str(tiny_vlm_dir), "processor": "image-only",
                                              "max_new_tokens": 8, "dtype": dtype, "device": "cuda"})
    try:
        messages = [ChatMessage(role="user", parts=[scene, "Is the red block on the blue one?"])]
        first = vlm.chat(messages)
        second = vlm.chat(messages)
        assert isinstance(first, str)
        assert first == second  # greedy decoding is deterministic on the GPU too
    finally:
        vlm.close()


def test_diffusers_flux2_klein_on_cuda_matches_seed(flux2_klein_dir, scene):
    gen = GENERATORS.build("diffusers", {
        "model": str(flux2_klein_dir), "pipeline": "flux2-klein", "num_inference_steps": 2, "width": 64,
        "height": 64, "dtype": "bfloat16", "device": "cuda", "guidance_scale": 1.0,
        "extra_call_kwargs": json.dumps(FLUX2_KLEIN_CALL_KWARGS)})
    try:
        a = gen.generate(GenerationRequest("move the red block onto the blue block", 11, scene))
        b = gen.generate(GenerationRequest("move the red block onto the blue block", 11, scene))
        c = gen.generate(GenerationRequest("move the red block onto the blue block", 12, scene))
        assert a.image.shape == (64, 64, 3) and a.image.dtype == np.uint8
        np.testing.assert_array_equal(a.image, b.image)
        assert not np.array_equal(a.image, c.image)
    finally:
        gen.close()

"""DiffusersGenerator with tiny Flux2Klein and InstructPix2Pix pipelines saved with save_pretrained."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from interleave_robot.backends.generator_diffusers import PIPELINES
from interleave_robot.errors import BackendError, CheckpointNotFoundError, ConfigError
from interleave_robot.registry import GENERATORS
from interleave_robot.types import GenerationRequest

from .tiny_models import FLUX2_KLEIN_CALL_KWARGS, FLUX_KONTEXT_CALL_KWARGS


@pytest.fixture(scope="module")
def klein(flux2_klein_dir):
    gen = GENERATORS.build("diffusers", {
        "model": str(flux2_klein_dir), "pipeline": "flux2-klein", "num_inference_steps": 2, "width": 64,
        "height": 64, "dtype": "float32", "guidance_scale": 1.0,
        "extra_call_kwargs": json.dumps(FLUX2_KLEIN_CALL_KWARGS)})
    yield gen
    gen.close()


def test_flux2_klein_edit_is_seeded(klein, scene):
    a = klein.generate(GenerationRequest("move the red block onto the blue block", 11, scene))
    b = klein.generate(GenerationRequest("move the red block onto the blue block", 11, scene))
    c = klein.generate(GenerationRequest("move the red block onto the blue block", 12, scene))
    assert a.image.shape == (64, 64, 3) and a.image.dtype == np.uint8
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    assert a.metadata == {"pipeline": "flux2-klein", "mode": "edit"}


def test_flux2_klein_text_to_image_and_source_matters(klein, scene):
    drawn = klein.generate(GenerationRequest("a table with three blocks", 3, None))
    assert drawn.image.shape == (64, 64, 3) and drawn.metadata["mode"] == "text"
    edited = klein.generate(GenerationRequest("a table with three blocks", 3, scene))
    assert not np.array_equal(drawn.image, edited.image)  # the source image conditions the edit


def test_flux_kontext_edit_and_text_to_image(flux_kontext_dir, scene):
    gen = GENERATORS.build("diffusers", {"model": str(flux_kontext_dir), "pipeline": "flux-kontext",
                                         "num_inference_steps": 2, "width": 48, "height": 32, "dtype": "float32",
                                         "extra_call_kwargs": json.dumps(FLUX_KONTEXT_CALL_KWARGS)})
    edited = gen.generate(GenerationRequest("move the red block", 2, scene))
    drawn = gen.generate(GenerationRequest("move the red block", 2, None))
    assert edited.image.shape == drawn.image.shape == (32, 48, 3)  # the configured size, not Kontext's 1 MP
    assert not np.array_equal(edited.image, drawn.image)
    gen.close()


def test_instruct_pix2pix_edit_only(pix2pix_dir, scene):
    gen = GENERATORS.build("diffusers", {"model": str(pix2pix_dir), "pipeline": "instruct-pix2pix",
                                         "num_inference_steps": 2, "width": 32, "height": 32, "dtype": "float32",
                                         "guidance_scale": 1.5, "extra_call_kwargs": '{"image_guidance_scale": 1.2}'})
    out = gen.generate(GenerationRequest("make the red block blue", 5, scene))
    assert out.image.shape == (32, 32, 3)
    np.testing.assert_array_equal(gen.generate(GenerationRequest("make the red block blue", 5, scene)).image,
                                  out.image)
    with pytest.raises(BackendError, match="cannot generate without a source image"):
        gen.generate(GenerationRequest("a table", 5, None))
    with pytest.raises(BackendError, match="empty"):
        gen.generate(GenerationRequest("  ", 5, scene))
    gen.close()


def test_missing_or_incomplete_pipeline_dir(tmp_path, pix2pix_dir):
    with pytest.raises(CheckpointNotFoundError, match="not found"):
        GENERATORS.build("diffusers", {"model": str(tmp_path / "none"), "pipeline": "flux2-klein"})
    broken = tmp_path / "broken"
    shutil.copytree(pix2pix_dir, broken, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(BackendError, match="cannot load"):
        GENERATORS.build("diffusers", {"model": str(broken), "pipeline": "instruct-pix2pix", "dtype": "float32"})


@pytest.mark.parametrize("options, message", [
    ({}, "required"),
    ({"model": "d", "pipeline": "sdxl"}, "pipeline must be one of"),
    ({"model": "d", "width": 60}, "multiple of 16"),
    ({"model": "d", "num_inference_steps": 0}, "num_inference_steps"),
    ({"model": "d", "dtype": "int8"}, "dtype"),
    ({"model": "d", "device": "gpu0"}, "device"),
    ({"model": "d", "extra_call_kwargs": "[1]"}, "mapping"),
    ({"model": "d", "extra_call_kwargs": "{bad"}, "JSON"),
])
def test_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        GENERATORS.build("diffusers", options)


def test_pipeline_table_names_real_diffusers_classes():
    import diffusers

    for kind in PIPELINES.values():
        for name in (kind.edit_class, kind.text_to_image_class):
            if name is not None:
                assert issubclass(getattr(diffusers, name), diffusers.DiffusionPipeline)


def test_diffusers_generator_behind_the_http_server(klein, serve, scene):
    """A real model served under the InterleaveThinker contract, called through the HTTP client."""
    server = serve(klein, name="diffusers")
    client = GENERATORS.build("http", {"endpoints": server.url})
    remote = client.generate(GenerationRequest("move the red block", 11, scene)).image
    local = klein.generate(GenerationRequest("move the red block", 11, scene)).image
    np.testing.assert_array_equal(remote, local)


def test_cuda_without_gpu_is_a_config_error(pix2pix_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has a GPU")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        GENERATORS.build("diffusers", {"model": str(pix2pix_dir), "pipeline": "instruct-pix2pix", "device": "cuda"})


def test_extra_call_kwargs_malformed_or_deeply_nested_is_a_config_error():
    from interleave_robot.backends.generator_diffusers import DiffusersGeneratorConfig

    with pytest.raises(ConfigError, match="nested too deeply"):
        DiffusersGeneratorConfig(model="x", extra_call_kwargs="[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="not a JSON object"):
        DiffusersGeneratorConfig(model="x", extra_call_kwargs="{bad")
    assert DiffusersGeneratorConfig(model="x", extra_call_kwargs='{"a": 1}').extra_call_kwargs == {"a": 1}

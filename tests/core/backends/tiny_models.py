"""Tiny models built from config for tests (importable helper; the training tests reuse it).

Each builder creates a model of the real architecture at toy size, saves it with
save_pretrained (safetensors) to a directory and returns that directory, so tests exercise
the real loading code of the backends. Nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path

from interleave_robot.backends.tiny_vlm import TinyVLMSpec, build_tiny_vlm, train_tokenizer

__all__ = ["build_tiny_vlm", "TinyVLMSpec", "build_tiny_flux2_klein", "build_tiny_instruct_pix2pix",
           "build_tiny_flux_kontext", "FLUX2_KLEIN_CALL_KWARGS", "FLUX_KONTEXT_CALL_KWARGS"]

# Qwen3 text encoder of the tiny Klein has 3 layers; the pipeline's default reads layers (9, 18, 27).
FLUX2_KLEIN_CALL_KWARGS = {"text_encoder_out_layers": [1, 2, 3], "max_sequence_length": 32}

# The tiny Kontext's T5 stand-in reads at most 16 tokens (the default is 512); without
# _auto_resize=False Kontext would scale the source image up to ~1 megapixel.
FLUX_KONTEXT_CALL_KWARGS = {"max_sequence_length": 16, "_auto_resize": False}

_PROMPTS = ["move the red block onto the blue block", "put the green cube in the bin",
            "a table with coloured blocks", "place the yellow block left of the plate"] * 8


def _tokenizer(max_length: int):
    tok = train_tokenizer(_PROMPTS, vocab_size=320)
    tok.model_max_length = max_length
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                         "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    return tok


def build_tiny_flux2_klein(directory: str | Path, seed: int = 0) -> Path:
    """A tiny Flux2KleinPipeline (Qwen3 text encoder, Flux2 transformer, Flux2 VAE), saved to `directory`."""
    import torch
    from diffusers import (AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline,
                           Flux2Transformer2DModel)
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    tokenizer = _tokenizer(32)
    text_hidden = 16
    text_encoder = Qwen3ForCausalLM(Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=32, num_hidden_layers=3,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=128))
    vae = AutoencoderKLFlux2(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                             up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4,
                             norm_num_groups=4, sample_size=32)
    # Flux2 packs 2x2 latent patches: transformer channels = 4 * latent_channels.
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=3 * text_hidden, timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False)
    pipe = Flux2KleinPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                              tokenizer=tokenizer, transformer=transformer, is_distilled=True)
    pipe.save_pretrained(directory, safe_serialization=True)
    return Path(directory)


def build_tiny_instruct_pix2pix(directory: str | Path, seed: int = 0) -> Path:
    """A tiny StableDiffusionInstructPix2PixPipeline (CLIP text encoder, 8-channel UNet, KL VAE)."""
    import torch
    from diffusers import (AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = _tokenizer(16)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=2, pad_token_id=0))
    # The edit UNet sees the noisy latents and the source image's latents: 4 + 4 input channels.
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=8, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                        sample_size=32)
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=EulerAncestralDiscreteScheduler(), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.save_pretrained(directory, safe_serialization=True)
    return Path(directory)


def build_tiny_flux_kontext(directory: str | Path, seed: int = 0) -> Path:
    """A tiny FluxKontextPipeline (CLIP + T5 text encoders, Flux transformer, KL VAE), saved to `directory`."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tokenizer, tokenizer_2 = _tokenizer(16), _tokenizer(16)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=16, projection_dim=16, bos_token_id=0, eos_token_id=2,
        pad_token_id=0))
    text_encoder_2 = T5EncoderModel(T5Config(vocab_size=len(tokenizer_2), d_model=16, d_kv=8, d_ff=32,
                                             num_layers=1, num_heads=2))
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                        sample_size=32, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0, scaling_factor=1.0)
    # Flux packs 2x2 latent patches: transformer channels = 4 * latent_channels.
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=16, pooled_projection_dim=16, guidance_embeds=True,
        axes_dims_rope=(4, 6, 6))
    pipe = FluxKontextPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                               tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
                               transformer=transformer, image_encoder=None, feature_extractor=None)
    pipe.save_pretrained(directory, safe_serialization=True)
    return Path(directory)

"""Session fixtures: small datasets built from the simulator and a tiny critic checkpoint.

MUJOCO_GL must be set before mujoco is imported anywhere, so it is set here first.
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

TINY = {"hidden_size": 32, "num_layers": 1, "num_heads": 4, "num_kv_heads": 2, "intermediate_size": 64,
        "vision_depth": 1, "vision_embed_dim": 16, "vision_heads": 2, "patch_size": 8, "image_side": 32,
        "vocab_size": 400}
SHORT_TEMPLATE = "Step: $instruction\nPrompt: $prompt\nDone right?"


@pytest.fixture(scope="session")
def critic_rl(tmp_path_factory):
    """A critic-rl dataset from 4 simulator episodes (one per family)."""
    from interleave_robot.training.builders import BuildConfig, build_dataset

    out = tmp_path_factory.mktemp("data") / "critic-rl"
    return build_dataset(BuildConfig(kind="critic-rl", episodes=4, seed=3, out=str(out), shard_episodes=2,
                                     attempts_per_step=2, test_fraction=0.25), progress=False)


@pytest.fixture(scope="session")
def template_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tpl") / "critic_short.txt"
    path.write_text(SHORT_TEMPLATE)
    return path


@pytest.fixture(scope="session")
def sft_model(critic_rl, template_file, tmp_path_factory):
    """A tiny critic trained 60 SFT steps: enough to start answering in the think/answer format."""
    from interleave_robot.training.recipes import SFTRecipe
    from interleave_robot.training.sft import run_sft

    root = tmp_path_factory.mktemp("sft")
    recipe = SFTRecipe(model={"path": str(root / "init"), "build_tiny": TINY}, data=str(critic_rl),
                       output_dir=str(root / "run"), max_steps=60, batch_size=4, learning_rate=1e-2, logging_steps=10,
                       prompts={"critic_template": str(template_file), "answer_style": "positions"})
    metrics = run_sft(recipe)
    return root, metrics

"""SFT and GRPO run a few steps on a tiny model built from config, and the parameters change."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from interleave_robot.errors import ConfigError
from interleave_robot.training.recipes import GRPORecipe, SFTRecipe, load_recipe


def weights(directory):
    return load_file(str(directory / "model.safetensors"))


def changed(before: dict, after: dict) -> int:
    return sum(not torch.equal(before[k], after[k]) for k in before if k in after)


def test_sft_trains_and_writes_metrics(sft_model):
    root, metrics = sft_model
    assert metrics["steps"] == 60 and metrics["last_loss"] < metrics["first_loss"]
    assert changed(weights(root / "init"), weights(root / "run" / "model")) > 0
    saved = json.loads((root / "run" / "metrics.json").read_text())
    assert saved["kind"] == "sft" and saved["rows"] > 0
    assert json.loads((root / "run" / "model" / "critic_agent.json").read_text())["answer_style"] == "positions"


def test_grpo_trains_with_simulator_rewards(sft_model, critic_rl, template_file, tmp_path):
    from interleave_robot.training.grpo import run_grpo

    root, _ = sft_model
    recipe = GRPORecipe(model={"path": str(root / "run" / "model")}, data=str(critic_rl),
                        output_dir=str(tmp_path / "grpo"), max_steps=3, batch_size=8, num_generations=4,
                        max_completion_length=48, learning_rate=1e-2, logging_steps=1,
                        prompts={"critic_template": str(template_file), "answer_style": "positions"},
                        temperature=0.8,
                        rewards={"use_task": False, "format_partial": True, "log_path": str(tmp_path / "r.jsonl")})
    metrics = run_grpo(recipe)
    assert metrics["steps"] == 3
    assert changed(weights(root / "run" / "model"), weights(tmp_path / "grpo" / "model")) > 0
    assert {"format", "accuracy", "semantic", "quality", "combined"} <= set(metrics["reward_last"])
    assert json.loads((tmp_path / "grpo" / "metrics.json").read_text())["kind"] == "grpo"


def test_lora_sft_merges_into_a_loadable_checkpoint(sft_model, critic_rl, template_file, tmp_path):
    from interleave_robot.training.sft import run_sft

    root, _ = sft_model
    recipe = SFTRecipe(model={"path": str(root / "run" / "model"), "lora": {"enabled": True, "r": 4,
                                                                            "target_modules": ["q_proj", "v_proj"]}},
                       data=str(critic_rl), output_dir=str(tmp_path / "lora"), max_steps=1, batch_size=2,
                       learning_rate=5e-2, prompts={"critic_template": str(template_file)})
    run_sft(recipe)
    after = weights(tmp_path / "lora" / "model")
    assert not any("lora" in k for k in after)
    assert changed(weights(root / "run" / "model"), after) > 0


def test_recipes_validate_and_load(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("kind: grpo\nmodel: {path: m}\ndata: d\noutput_dir: o\nbatch_size: 6\nnum_generations: 4\n")
    with pytest.raises(ConfigError, match="multiple of num_generations"):
        load_recipe(path)
    with pytest.raises(ConfigError, match="train sft"):
        load_recipe(path, expect="sft")
    path.write_text("kind: sft\nmodel: {path: m, dtype: float8}\ndata: d\noutput_dir: o\n")
    with pytest.raises(ConfigError, match="dtype"):
        load_recipe(path)
    path.write_text("kind: sft\nmodel: {path: m}\ndata: d\noutput_dir: o\nlearning_rat: 1\n")
    with pytest.raises(ConfigError, match="learning_rat"):
        load_recipe(path)
    for name in ("critic_sft_cpu", "critic_grpo_cpu", "critic_sft_gpu", "critic_grpo_gpu", "planner_sft_cpu"):
        load_recipe(f"configs/{name}.yaml")


def test_planner_sft_runs_on_teacher_plans(tmp_path):
    from interleave_robot.training.builders import BuildConfig, build_dataset
    from interleave_robot.training.sft import run_sft

    from .conftest import TINY

    data = build_dataset(BuildConfig(kind="planner-sft", episodes=2, seed=2, out=str(tmp_path / "plans"),
                                     test_fraction=0.5, families=["pick_place", "line"]), progress=False)
    metrics = run_sft(SFTRecipe(target="planner", model={"path": str(tmp_path / "init"), "build_tiny": TINY},
                                data=str(data), output_dir=str(tmp_path / "run"), max_steps=2, batch_size=1,
                                learning_rate=1e-2))
    assert metrics["steps"] == 2 and metrics["target"] == "planner"
    assert changed(weights(tmp_path / "init"), weights(tmp_path / "run" / "model")) > 0

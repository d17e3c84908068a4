"""GRPO (trl GRPOTrainer) of the critic with the simulator's reward functions.

One trl reward function per term (format, accuracy, semantic, quality, task) with the
recipe's weights, so trl logs each term (`rewards/<term>_reward/mean`) and optimises the
weighted sum. On GPUs the recipe can switch generation to vLLM (`use_vllm`, colocate or
server mode); multi-GPU runs go through `accelerate launch` (see configs/README.md).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from interleave_robot.errors import ConfigError
from interleave_robot.training.formatting import load_split, to_critic_grpo
from interleave_robot.training.modeling import load_model_and_processor, save_trained
from interleave_robot.training.recipes import GRPORecipe
from interleave_robot.training.rewards import SimRewards
from interleave_robot.training.sft import trl_common, write_agent_file

# Function-level imports here are only torch, transformers and trl (heavy, optional: the [train] extra).

log = logging.getLogger(__name__)

REWARD_COLUMNS = ["success", "row_seed", "source_snapshot", "gt_snapshot", "subgoal", "task", "step_index",
                  "num_steps", "instruction", "fault"]


def term_means(log_history: list[dict]) -> dict[str, list[float]]:
    """Per reward term, the logged means in order (trl's `rewards/<name>/mean`)."""
    series: dict[str, list[float]] = {}
    for entry in log_history:
        for key, value in entry.items():
            if key.startswith("rewards/") and key.endswith("/mean"):
                series.setdefault(key.split("/")[1].removesuffix("_reward").removeprefix("partial_"), []).append(float(value))
        if "reward" in entry:
            series.setdefault("combined", []).append(float(entry["reward"]))
    return series


def vision_token_ids(processor) -> list[int]:
    """Ids of the chat template's image/video placeholder tokens present in the tokenizer.

    A sampled completion must never contain them: the model would count them as image slots
    when the completion is scored (Qwen-VL's rope index breaks on a mismatch).
    """
    tokenizer = processor.tokenizer
    names = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_pad|>")
    vocab = tokenizer.get_vocab()
    return [vocab[n] for n in names if n in vocab]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def run_grpo(recipe: GRPORecipe) -> dict:
    """Train; returns (and writes) the metrics dict."""
    from trl import GRPOConfig, GRPOTrainer

    start = time.time()
    ds = load_split(recipe.data, recipe.split, recipe.max_rows)
    missing = [c for c in REWARD_COLUMNS if c not in ds.column_names]
    if missing:
        raise ConfigError(f"{recipe.data} lacks the critic-rl columns {missing}: build it with --kind critic-rl")
    model, processor = load_model_and_processor(recipe.model)
    # trl left-pads prompt ids for generation but takes mm_token_type_ids from a plain processor
    # call: both must be left-padded or Qwen-VL's rope index misaligns on prompts of unequal length.
    processor.tokenizer.padding_side = "left"
    train = to_critic_grpo(ds, recipe.prompts).select_columns(["images", "prompt", *REWARD_COLUMNS])
    reward_config = recipe.rewards
    if reward_config.balance_classes:  # the collapse guard needs the class shares of this data
        failed = 1.0 - sum(ds["success"]) / max(1, len(ds))
        reward_config = dataclasses.replace(reward_config, failed_share=min(0.99, max(0.01, failed)))
    rewards = SimRewards(reward_config)
    funcs, weights = rewards.functions()
    options = dict(trl_common(recipe), num_generations=recipe.num_generations,
                   max_completion_length=recipe.max_completion_length, temperature=recipe.temperature,
                   beta=recipe.beta, reward_weights=weights, use_vllm=recipe.use_vllm, log_completions=False,
                   generation_kwargs={"suppress_tokens": vision_token_ids(processor)})
    if recipe.use_vllm:
        options.update(vllm_mode=recipe.vllm_mode, vllm_gpu_memory_utilization=recipe.vllm_gpu_memory_utilization)
    options.update(recipe.trl_options)
    trainer = GRPOTrainer(model=model, args=GRPOConfig(**options), train_dataset=train, processing_class=processor,
                          reward_funcs=funcs)
    try:
        result = trainer.train()
    finally:
        rewards.close()
    out = Path(recipe.output_dir)
    model_dir = save_trained(trainer.model, processor, out / "model")
    write_agent_file(model_dir, recipe)
    series = term_means(trainer.state.log_history)
    metrics = {"kind": "grpo", "rows": len(train), "steps": trainer.state.global_step,
               "train_loss": result.training_loss, "seconds": round(time.time() - start, 1),
               "model_dir": str(model_dir), "reward_weights": dict(zip([f.__name__ for f in funcs], weights)),
               "reward_first": {k: _mean(v[:max(1, len(v) // 4)]) for k, v in series.items() if v},
               "reward_last": {k: _mean(v[-max(1, len(v) // 4):]) for k, v in series.items() if v},
               "log_history": trainer.state.log_history,
               "recipe": json.loads(json.dumps(asdict(recipe), default=str))}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    return metrics

"""Supervised fine-tuning (trl SFTTrainer) of the critic or the planner on simulator rows.

Any image-text-to-text checkpoint from a local directory (or a tiny one built from config),
full or LoRA. The loss is on the answer only (prompt-completion data). The trained model is
saved loadable by `TransformersVLM` under `<output_dir>/model`, with the critic's prompt
settings next to it (prompts.AGENT_FILE), and `<output_dir>/metrics.json` records the run.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from interleave_robot.training.formatting import corpus_for_tokenizer, load_split, to_critic_sft, to_planner_sft
from interleave_robot.training.modeling import load_model_and_processor, save_trained
from interleave_robot.training.prompts import AGENT_FILE
from interleave_robot.training.recipes import SFTRecipe
from interleave_robot.training.verdict_loss import verdict_token_ids, weighted_sft_trainer

# Function-level imports here are only torch, transformers and trl (heavy, optional: the [train] extra).

log = logging.getLogger(__name__)


def freeze_vision_tower(model) -> int:
    """Stop gradients into the vision encoder (parameters named '*visual*'); returns how many were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if ".visual." in f".{name}":
            param.requires_grad_(False)
            frozen += 1
    return frozen


def write_agent_file(model_dir: Path, recipe) -> None:
    """Record how prompts were rendered, so evaluation and the critic backend render them alike."""
    prompts = recipe.prompts
    (model_dir / AGENT_FILE).write_text(json.dumps({
        "template": str(Path(prompts.critic_template).resolve()) if prompts.critic_template else "",
        "answer_style": prompts.answer_style}, indent=2))


def trl_common(recipe) -> dict:
    """SFTConfig/GRPOConfig options shared by both trainers."""
    import torch

    return dict(output_dir=str(Path(recipe.output_dir) / "trainer"), max_steps=recipe.max_steps,
                learning_rate=recipe.learning_rate, per_device_train_batch_size=recipe.batch_size,
                gradient_accumulation_steps=recipe.grad_accum, seed=recipe.seed, data_seed=recipe.seed,
                logging_steps=recipe.logging_steps, bf16=recipe.bf16, report_to="none",
                gradient_checkpointing=recipe.gradient_checkpointing, save_strategy="no",
                use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=False)


def run_sft(recipe: SFTRecipe) -> dict:
    """Train; returns (and writes) the metrics dict."""
    from trl import SFTConfig, SFTTrainer

    start = time.time()
    ds = load_split(recipe.data, recipe.split, recipe.max_rows)
    corpus = corpus_for_tokenizer(ds, recipe.prompts, recipe.target)
    model, processor = load_model_and_processor(recipe.model, corpus)
    if recipe.freeze_vision:
        log.info("froze %d vision parameters", freeze_vision_tower(model))
    train = to_critic_sft(ds, recipe.prompts) if recipe.target == "critic" else to_planner_sft(ds, recipe.prompts)
    train = train.select_columns(["images", "prompt", "completion"])
    options = dict(trl_common(recipe), max_length=recipe.max_length, warmup_steps=recipe.warmup_steps,
                   completion_only_loss=True)
    if recipe.num_epochs is not None:
        options.update(num_train_epochs=recipe.num_epochs, max_steps=-1)
    options.update(recipe.trl_options)
    params_before = sum(p.numel() for p in model.parameters() if p.requires_grad)
    trainer_class = SFTTrainer
    if recipe.target == "critic" and recipe.verdict_weight != 1.0:
        token_ids = verdict_token_ids(processor.tokenizer)
        trainer_class = weighted_sft_trainer(token_ids, recipe.verdict_weight, recipe.verdict_weight_from_step)
        log.info("verdict tokens %s weighted x%s from step %d", token_ids, recipe.verdict_weight,
                 recipe.verdict_weight_from_step)
    trainer = trainer_class(model=model, args=SFTConfig(**options), train_dataset=train, processing_class=processor)
    result = trainer.train()
    out = Path(recipe.output_dir)
    model_dir = save_trained(trainer.model, processor, out / "model")
    write_agent_file(model_dir, recipe)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    metrics = {"kind": "sft", "target": recipe.target, "rows": len(train), "steps": trainer.state.global_step,
               "trainable_parameters": params_before, "train_loss": result.training_loss,
               "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
               "seconds": round(time.time() - start, 1), "model_dir": str(model_dir),
               "log_history": trainer.state.log_history, "recipe": _jsonable(asdict(recipe))}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    return metrics


def _jsonable(data: dict) -> dict:
    return json.loads(json.dumps(data, default=str))

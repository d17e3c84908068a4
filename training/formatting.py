"""Dataset rows (as the builders save them) -> trl examples (conversational prompt/completion + images).

The prompt text is rendered at training time from the recipe's templates, so one dataset
serves any template or answer style. Functions read only text columns (`input_columns`),
so datasets never decodes the images while mapping.
"""
from __future__ import annotations

import json
from pathlib import Path

from interleave_robot.errors import ConfigError

from interleave_robot.training.grids import grids_think
GRID_STYLES = ("grids", "arrivals")  # answer styles whose think is written from the `grids` column
from interleave_robot.training.prompts import (PromptConfig, assistant_turn, critic_answer, critic_prompt_text, planner_prompt_text,
                      user_turn)

# Function-level imports here are only datasets (heavy, optional: the [train] extra).

CRITIC_TEXT_COLUMNS = ["task_text", "instruction", "gen_prompt", "step_name", "success", "refine_prompt", "fault",
                       "cells", "grids"]
PLANNER_TEXT_COLUMNS = ["task_text", "answer"]


def load_split(data_dir: str | Path, split: str, max_rows: int | None = None):
    """One split of a saved dataset (DatasetDict from `data build`); ConfigError if absent."""
    from datasets import DatasetDict, load_from_disk

    path = Path(data_dir)
    if not (path / "dataset_dict.json").is_file():
        raise ConfigError(f"{path} is not a dataset built by `interleave-robot data build` (no dataset_dict.json)")
    data = load_from_disk(str(path))
    if not isinstance(data, DatasetDict) or split not in data:
        raise ConfigError(f"{path} has no split {split!r} (has: {', '.join(data)})")
    ds = data[split]
    if max_rows is not None:
        ds = ds.select(range(min(max_rows, len(ds))))
    return ds


def critic_prompt_for(row: dict, prompts: PromptConfig) -> list[dict]:
    text = critic_prompt_text(prompts, row["task_text"], row["instruction"], row["gen_prompt"], row["step_name"])
    return user_turn(text, 2)


def critic_target(row: dict, prompts: PromptConfig) -> str:
    cells = {k: tuple(v) for k, v in json.loads(row["cells"] or "{}").items()}
    think = None
    if prompts.answer_style in GRID_STYLES:
        if not row.get("grids"):
            raise ConfigError(f"answer_style {prompts.answer_style!r} needs the dataset's `grids` column "
                              "(rebuild the data)")
        think = grids_think(json.loads(row["grids"]), row["success"], prompts.answer_style)
    return critic_answer(row["success"], row["refine_prompt"], row["fault"], prompts.answer_style, cells, think)


def critic_columns(ds) -> list[str]:
    """The critic text columns this dataset has (`grids` is absent from data built before it)."""
    return [c for c in CRITIC_TEXT_COLUMNS if c in ds.column_names]


def to_critic_sft(ds, prompts: PromptConfig):
    """Add conversational prompt/completion columns for SFT on critic rows."""
    columns = critic_columns(ds)

    def fn(*values):
        row = dict(zip(columns, values))
        return {"prompt": critic_prompt_for(row, prompts), "completion": assistant_turn(critic_target(row, prompts))}

    return ds.map(fn, input_columns=columns, desc="critic prompts")


def to_planner_sft(ds, prompts: PromptConfig):
    def fn(task_text, answer):
        return {"prompt": user_turn(planner_prompt_text(prompts, task_text), 1), "completion": assistant_turn(answer)}

    return ds.map(fn, input_columns=PLANNER_TEXT_COLUMNS, desc="planner prompts")


def to_critic_grpo(ds, prompts: PromptConfig):
    """Add the conversational prompt column for GRPO; the other columns feed the reward functions."""
    columns = critic_columns(ds)

    def fn(*values):
        return {"prompt": critic_prompt_for(dict(zip(columns, values)), prompts)}

    return ds.map(fn, input_columns=columns, desc="critic prompts")


def corpus_for_tokenizer(ds, prompts: PromptConfig, target: str, limit: int = 400) -> list[str]:
    """Prompt and answer texts to train a tiny model's BPE on (so answers take few tokens)."""
    texts = []
    rows = ds.select_columns(critic_columns(ds) if target == "critic" else PLANNER_TEXT_COLUMNS)
    for row in rows.select(range(min(limit, len(rows)))):
        if target == "critic":
            texts.append(critic_prompt_for(row, prompts)[0]["content"][-1]["text"])
            texts.append(critic_target(row, prompts))
            # Both verdicts of every row, so "true" and "false" answers tokenize alike.
            flipped = dict(row, success=not row["success"], refine_prompt=row["refine_prompt"] or row["instruction"])
            texts.append(critic_target(flipped, prompts))
        else:
            texts.append(planner_prompt_text(prompts, row["task_text"]))
            texts.append(row["answer"])
    return texts

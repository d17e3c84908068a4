"""Dataset builders: simulator episodes -> Hugging Face datasets (save_to_disk, Image features).

    build_dataset(BuildConfig(kind="critic-sft", episodes=200, seed=0, out="runs/data/critic-sft", workers=2))

Episodes are cut into shards; each shard is built in a worker process and written atomically
under `<out>/shards/`, so an interrupted build resumes where it stopped (finished shards are
kept, an unfinished one is redone). Episode i uses family `families[i % len]` and a seed
derived from (seed, i) only, so the rows do not depend on the number of workers or on
resuming. The last `test_fraction` of episodes form the held-out "test" split. A data card
(README.md: rows per split, family and fault type) is written beside the data.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections import Counter
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import util
from pathlib import Path

from tqdm import tqdm

from interleave_robot.errors import ConfigError

from interleave_robot.training.simulate import DROP_COLUMNS, ROW_FUNCTIONS, RolloutConfig, close_envs
from interleave_robot.training.workers import spawn_pool

# Function-level imports here are only datasets (heavy, optional: the [train] extra).

log = logging.getLogger(__name__)

KINDS = tuple(ROW_FUNCTIONS)
FAMILIES = ("stack", "sort", "line", "pick_place")
MAX_EPISODES = 1_000_000


@dataclass
class BuildConfig:
    kind: str = "critic-sft"
    episodes: int = 100
    seed: int = 0
    out: str = ""
    workers: int = 1
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    fault_rate: float = 0.5
    attempts_per_step: int = 1
    vague_prompts: float = 0.5
    realism: float = 0.0  # editor effects on generated images (sim_generator's `realism`)
    subtle_fraction: float = 0.0  # share of faults drawn in a subtle form
    test_fraction: float = 0.2
    shard_episodes: int = 8

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not 1 <= self.episodes <= MAX_EPISODES:
            raise ConfigError(f"episodes must be in 1..{MAX_EPISODES}, got {self.episodes}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if not self.out:
            raise ConfigError("out (the dataset directory) is required")
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"workers must be in 1..64, got {self.workers}")
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(f"families must be a non-empty subset of {', '.join(FAMILIES)}, got {self.families}")
        if not 0 <= self.fault_rate <= 1:
            raise ConfigError(f"fault_rate must be in [0, 1], got {self.fault_rate}")
        if not 1 <= self.attempts_per_step <= 16:
            raise ConfigError(f"attempts_per_step must be in 1..16, got {self.attempts_per_step}")
        if self.realism < 0 or not 0 <= self.subtle_fraction <= 1:
            raise ConfigError(f"realism must be >= 0 and subtle_fraction in [0, 1], got {self.realism}, "
                              f"{self.subtle_fraction}")
        if not 0 <= self.vague_prompts <= 1:
            raise ConfigError(f"vague_prompts must be in [0, 1], got {self.vague_prompts}")
        if not 0 <= self.test_fraction <= 1:  # 1: every episode held out (an evaluation set from its own seed)
            raise ConfigError(f"test_fraction must be in [0, 1], got {self.test_fraction}")
        if self.shard_episodes < 1:
            raise ConfigError(f"shard_episodes must be >= 1, got {self.shard_episodes}")

    @property
    def num_shards(self) -> int:
        return -(-self.episodes // self.shard_episodes)

    def episode_seed(self, index: int) -> int:
        return (self.seed * 1_000_003 + index * 7_919 + 17) % (2**31)

    def fingerprint(self) -> dict:
        """What the rows depend on (a resumed build must match it)."""
        data = asdict(self)
        for key in ("out", "workers", "episodes", "test_fraction"):
            data.pop(key)
        for key in ("realism", "subtle_fraction"):  # added later: a build without them had them at 0
            if not data[key]:
                data.pop(key)
        return data


def _features(kind: str):
    from datasets import Features, Image, List, Value

    text, integer, boolean = Value("string"), Value("int64"), Value("bool")
    if kind == "planner-sft":
        return Features({"images": List(Image()), "task_text": text, "family": text, "answer": text,
                         "num_steps": integer, "episode_seed": integer, "task": text, "episode": integer})
    columns = {"images": List(Image()), "task_text": text, "family": text, "instruction": text, "gen_prompt": text,
               "step_name": text, "step_index": integer, "num_steps": integer, "success": boolean, "fault": text,
               "generator_fault": text, "refine_prompt": text, "explicit_prompt": text, "answer": text,
               "cells": text, "grids": text, "episode_seed": integer, "row_seed": integer, "source_snapshot": text,
               "gt_snapshot": text, "after_snapshot": text, "subgoal": text, "task": text, "camera": text,
               "episode": integer}
    for name in DROP_COLUMNS[kind]:
        columns.pop(name)
    return Features(columns)


def build_shard(config: BuildConfig, shard: int) -> tuple[int, int]:
    """Build one shard's rows and save them atomically; returns (shard, rows)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from datasets import Dataset

    rollout = RolloutConfig(config.fault_rate, config.attempts_per_step, config.vague_prompts, config.realism,
                            config.subtle_fraction)
    rows = []
    first = shard * config.shard_episodes
    # The simulator objects stay cached across shards; the caller (or the worker's exit) closes them.
    for index in range(first, min(first + config.shard_episodes, config.episodes)):
        family = config.families[index % len(config.families)]
        for row in ROW_FUNCTIONS[config.kind](family, config.episode_seed(index), rollout):
            for name in DROP_COLUMNS[config.kind]:
                row.pop(name)
            rows.append({**row, "episode": index})
    target = Path(config.out) / "shards" / f"shard_{shard:05d}"
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    Dataset.from_list(rows, features=_features(config.kind)).save_to_disk(str(tmp))
    os.replace(tmp, target)
    return shard, len(rows)


def _close_at_exit() -> None:
    """A build worker closes its cached simulator objects when it exits (GL contexts close cleanly)."""

    util.Finalize(None, close_envs, exitpriority=10)  # pool children skip atexit; finalizers run


def _check_resume(config: BuildConfig, out: Path) -> None:
    marker = out / "build.json"
    fingerprint = config.fingerprint()
    if marker.is_file():
        previous = json.loads(marker.read_text())
        if previous != fingerprint:
            raise ConfigError(f"{out} holds a build with other options ({previous}); use another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(fingerprint, indent=2))


def build_dataset(config: BuildConfig, progress: bool = True) -> Path:
    """Build (or resume) the dataset; returns its directory (a DatasetDict with train/test)."""
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    out = Path(config.out)
    _check_resume(config, out)
    shard_dir = out / "shards"
    done = {s for s in range(config.num_shards) if (shard_dir / f"shard_{s:05d}").is_dir()}
    todo = [s for s in range(config.num_shards) if s not in done]
    bar = tqdm(total=config.num_shards, initial=len(done), desc=f"{config.kind} shards", unit="shard",
               file=sys.stderr, disable=not progress)
    if todo and config.workers == 1:
        try:
            for shard in todo:
                build_shard(config, shard)
                bar.update(1)
        finally:
            close_envs()
    elif todo:
        with spawn_pool(config.workers, _close_at_exit) as pool:
            for future in as_completed([pool.submit(build_shard, config, s) for s in todo]):
                future.result()
                bar.update(1)
    bar.close()
    shards = [load_from_disk(str(shard_dir / f"shard_{s:05d}")) for s in range(config.num_shards)]
    data = concatenate_datasets(shards)
    cut = config.episodes - int(round(config.episodes * config.test_fraction))
    splits = DatasetDict({"train": data.filter(lambda e: e < cut, input_columns="episode"),
                          "test": data.filter(lambda e: e >= cut, input_columns="episode")})
    final = out / "data.tmp"
    shutil.rmtree(final, ignore_errors=True)
    splits.save_to_disk(str(final))
    for name in ("train", "test", "dataset_dict.json"):
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(final / name, path)
    shutil.rmtree(final, ignore_errors=True)
    write_data_card(out, config, splits)
    return out


def write_data_card(out: Path, config: BuildConfig, splits) -> Path:
    """README.md: what was built, how, and rows per split, family and fault type."""
    lines = [f"# {config.kind} dataset", "",
             f"Built by `interleave-robot data build --kind {config.kind} --episodes {config.episodes} "
             f"--seed {config.seed}` from the MuJoCo tabletop simulator (privileged teacher plans, simulated "
             f"generator with fault rate {config.fault_rate}). Held-out split: the last "
             f"{config.test_fraction:.0%} of episodes.", "",
             "| split | rows |", "|---|---|"]
    lines += [f"| {name} | {len(ds)} |" for name, ds in splits.items()]
    for column in ("family", "fault"):
        if column not in splits["train"].column_names:
            continue
        counts = {name: Counter(ds[column]) for name, ds in splits.items()}
        keys = sorted(set().union(*counts.values()))
        lines += ["", f"Rows per {column}:", "", f"| {column} | " + " | ".join(counts) + " |",
                  "|---" * (len(counts) + 1) + "|"]
        lines += [f"| {k} | " + " | ".join(str(c.get(k, 0)) for c in counts.values()) + " |" for k in keys]
    if "success" in splits["train"].column_names:
        lines += ["", "Share of correct generations (previous_step_success true): " + ", ".join(
            f"{name} {sum(ds['success']) / max(1, len(ds)):.2f}" for name, ds in splits.items())]
    lines += ["", "Columns: " + ", ".join(f"`{c}`" for c in splits["train"].column_names), "",
              "Options: `" + json.dumps(config.fingerprint()) + "`", ""]
    path = out / "README.md"
    path.write_text("\n".join(lines))
    return path

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

import bisect
import io
import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing import util
from pathlib import Path

from tqdm import tqdm

from interleave_robot.errors import ConfigError

from interleave_robot.training.simulate import DROP_COLUMNS, ROW_FUNCTIONS, RolloutConfig, close_envs
from interleave_robot.training.workers import share_work, spawn_pool

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


# With several workers, unfinished shards are cut into parts so that every worker has work to
# the end (a 60-episode build of 50-episode shards is 2 shards: 50 + 10 episodes on 2 workers ran
# at x1.2); at least this many units per worker. Parts are written as shard_XXXXX.partJJofPP.
UNITS_PER_WORKER = 4
MAX_UNIT_EPISODES = 16  # and with several workers no unit is longer than this (a short tail)
# Images are stored as PNG at zlib level 1: the default level (6) was a fifth of a row's build
# time for 35% smaller files; the decoded pixels are the same (PNG is lossless).
PNG_COMPRESS_LEVEL = 1


def _png(image) -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return {"bytes": buffer.getvalue(), "path": None}


def _piece_name(shard: int, part: int = 0, parts: int = 1) -> str:
    return f"shard_{shard:05d}" if parts == 1 else f"shard_{shard:05d}.part{part:02d}of{parts:02d}"


def _piece_range(config: BuildConfig, shard: int, part: int, parts: int) -> range:
    first = shard * config.shard_episodes
    size = min(first + config.shard_episodes, config.episodes) - first
    return range(first + size * part // parts, first + size * (part + 1) // parts)


def build_shard(config: BuildConfig, shard: int, part: int = 0, parts: int = 1) -> dict:
    """Build one shard's rows (or part `part` of `parts` of them) and save them atomically.

    Returns what was done and how long it took: shard, part, rows, episodes, rollout_s (simulation),
    save_s (encoding and writing), cpu_s (this process's CPU time for both), pid."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from datasets import Dataset

    start, cpu = time.perf_counter(), time.process_time()
    rollout = RolloutConfig(config.fault_rate, config.attempts_per_step, config.vague_prompts, config.realism,
                            config.subtle_fraction)
    rows = []
    episodes = _piece_range(config, shard, part, parts)
    # The simulator objects stay cached across shards; the caller (or the worker's exit) closes them.
    for index in episodes:
        family = config.families[index % len(config.families)]
        for row in ROW_FUNCTIONS[config.kind](family, config.episode_seed(index), rollout):
            for name in DROP_COLUMNS[config.kind]:
                row.pop(name)
            row["images"] = [_png(image) for image in row["images"]]
            rows.append({**row, "episode": index})
    simulated = time.perf_counter()
    target = Path(config.out) / "shards" / _piece_name(shard, part, parts)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    Dataset.from_list(rows, features=_features(config.kind)).save_to_disk(str(tmp))
    os.replace(tmp, target)
    return {"shard": shard, "part": part, "rows": len(rows), "episodes": len(episodes),
            "rollout_s": simulated - start, "save_s": time.perf_counter() - simulated,
            "cpu_s": time.process_time() - cpu, "pid": os.getpid()}


def _build_unit(config: BuildConfig, unit: tuple[int, int, int]) -> dict:
    return build_shard(config, *unit)


def build_pool(children: int, wait_ready: bool = True):
    """A started pool of build workers (imports done when `wait_ready`), for `build_dataset(..., pool=)`."""
    return spawn_pool(children, _init_build_worker, wait_ready=wait_ready)


def _init_build_worker() -> None:
    """A build worker imports what every shard needs once, at pool start (not in its first shard),
    and closes its cached simulator objects when it exits (GL contexts close cleanly)."""
    import datasets  # noqa: F401

    from interleave_robot.sim_envs import env_cache, sim_generator, teacher  # noqa: F401

    _close_at_exit()


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


def _finished_parts(shard_dir: Path, shard: int) -> dict[int, set[int]]:
    """{parts: {finished part indices}} of a shard built in parts (an interrupted earlier build)."""
    found: dict[int, set[int]] = {}
    for path in shard_dir.glob(f"shard_{shard:05d}.part*of*"):
        if path.is_dir() and not path.name.endswith(".tmp"):
            part, parts = path.name.split(".part")[1].split("of")
            found.setdefault(int(parts), set()).add(int(part))
    return found


def _pieces(config: BuildConfig, shard_dir: Path) -> tuple[list[Path], list[tuple[int, int, int]]]:
    """(every finished piece in episode order, the (shard, part, parts) units still to build)."""
    todo_shards = [s for s in range(config.num_shards) if not (shard_dir / _piece_name(s)).is_dir()]
    if config.workers == 1 or not todo_shards:
        default = 1
    else:
        default = max(-(-UNITS_PER_WORKER * config.workers // len(todo_shards)),
                      -(-config.shard_episodes // MAX_UNIT_EPISODES))
    done, todo = [], []
    for shard in range(config.num_shards):
        if shard not in todo_shards:
            done.append(shard_dir / _piece_name(shard))
            continue
        found = _finished_parts(shard_dir, shard)
        parts = max(found, key=lambda p: len(found[p])) if found else default  # resume the parts already made
        parts = min(parts, len(_piece_range(config, shard, 0, 1)))
        for part in range(parts):
            if part in found.get(parts, set()):
                done.append(shard_dir / _piece_name(shard, part, parts))
            else:
                todo.append((shard, part, parts))
    return done, todo


def build_dataset(config: BuildConfig, progress: bool = True, timings: dict | None = None, pool=None) -> Path:
    """Build (or resume) the dataset; returns its directory (a DatasetDict with train/test).

    With `config.workers` > 1, this process and `workers - 1` spawn children build the shards
    (workers.share_work); `pool`, if given, is a started pool of those children to use
    (`build_pool(workers - 1)`; the caller shuts it down), else one is started and shut down here.
    `timings`, if given, receives where the time went: pool_start_s (starting the pool, not
    waiting for its imports), shards_s (building the missing shards), merge_s (train/test
    written), card_s, total_s, and units (what build_shard returned per unit built)."""
    timings = {} if timings is None else timings
    start = time.perf_counter()
    out = Path(config.out)
    _check_resume(config, out)
    shard_dir = out / "shards"
    _, todo = _pieces(config, shard_dir)
    todo.sort(key=lambda u: -len(_piece_range(config, *u)))  # the largest first: the tail is short units
    bar = tqdm(total=len(todo), desc=f"{config.kind} shards", unit="shard", file=sys.stderr,
               disable=not progress)
    units: list[dict] = []
    timings["pool_start_s"] = 0.0

    def done(result: dict) -> None:
        units.append(result)
        bar.update(1)

    clock = time.perf_counter()
    try:
        if todo and config.workers > 1 and pool is None:
            # This process builds too (share_work), so workers - 1 children; it starts at once, and
            # the children join when their imports are done.
            with spawn_pool(min(config.workers - 1, len(todo)), _init_build_worker, wait_ready=False) as own:
                timings["pool_start_s"] = time.perf_counter() - clock
                share_work(own, partial(_build_unit, config), todo, partial(_build_unit, config), done)
        else:
            share_work(pool if config.workers > 1 else None, partial(_build_unit, config), todo,
                       partial(_build_unit, config), done)
    finally:
        close_envs()
    timings["shards_s"] = time.perf_counter() - clock - timings["pool_start_s"]
    bar.close()
    timings["units"] = units
    # datasets is imported here, not above: a fresh process (`data build`) imports it in its first
    # shard while its child is still starting, instead of before the child is started.
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    clock = time.perf_counter()
    pieces, todo = _pieces(config, shard_dir)
    assert not todo, todo
    data = concatenate_datasets([load_from_disk(str(path)) for path in pieces])
    # Rows are in episode order: the held-out episodes are the rows from the first of them on.
    cut = config.episodes - int(round(config.episodes * config.test_fraction))
    first_test = bisect.bisect_left(list(data["episode"]), cut)
    splits = DatasetDict({"train": _rows(data, 0, first_test), "test": _rows(data, first_test, len(data))})
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
    timings["merge_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    write_data_card(out, config, splits)
    timings["card_s"] = time.perf_counter() - clock
    timings["total_s"] = time.perf_counter() - start
    return out


def _rows(data, start: int, stop: int):
    """Rows start..stop-1 (a contiguous slice of the table, no index mapping; datasets refuses an empty
    range that starts at the end)."""
    if start >= stop:  # an empty select() saves a split load_from_disk cannot read back; filter() keeps a table
        return data.filter(lambda _: False, input_columns="episode")
    return data.select(range(start, stop))


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

"""Scoring a critic answer's refined prompt in the simulator: semantic, quality and task terms.

Each (row, answer) is one work item, computed in a worker process that owns its own simulated
generator, env and executor (MuJoCo objects never cross processes). Every random choice is
seeded from the row's seed and the refined prompt, so a score does not depend on which worker
computed it or in which order: evaluation is deterministic for a seed.

With `workers` > 1, this process scores too (workers.share_work), next to `workers - 1`
children: only the items that need the simulator are sent (a verdict of success, a malformed
answer or a correct image costs nothing to score), in chunks ordered by scene, so that a
process renders one scene's items in a row instead of rebuilding its MuJoCo model per item.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import util
from typing import Any

import numpy as np

from interleave_robot.training.rewards.config import RewardConfig
from interleave_robot.training.rewards.task_term import task_completion
from interleave_robot.training.rewards.text import read_verdict
from interleave_robot.training.simulate import IMAGE_FAULTS, others_in_place
from interleave_robot.training.workers import share_work, spawn_pool
from interleave_robot.types import GenerationRequest

# Function-level imports here are only sim_envs modules (they load gymnasium and MuJoCo: the [sim] extra).

log = logging.getLogger(__name__)

_CACHE_LIMIT = 20000
CHUNKS_PER_PROCESS = 8  # work is cut this fine so that the processes meet where the costs put them (a child
# holds 2 chunks at a time; an executor run takes 30-200 ms): IPC costs ~0.3 ms per chunk
_WORKER: dict[str, Any] = {}  # a pool process's simulator objects (see _init_worker)


def regeneration_seed(row_seed: int, text: str) -> int:
    """A 31-bit seed from the row's seed and the refined prompt (stable across processes)."""
    digest = hashlib.blake2b(f"{int(row_seed)}\0{text}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def new_workspace(config: RewardConfig) -> dict[str, Any]:
    """The simulator objects one process scores with: generator now, envs/executor on first use."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator

    return {"config": config, "generator": SimulatedGenerator(SimGeneratorConfig(fault_rate=config.fault_rate))}


def close_workspace(workspace: dict[str, Any]) -> None:
    """Close renderers explicitly (EGL complains at exit otherwise)."""
    from interleave_robot.sim_envs.env_cache import close_cached_envs

    if "generator" in workspace:
        workspace["generator"].close()
    close_cached_envs()  # the task term's envs live in the process's one simulator cache
    workspace.clear()


def _init_worker(config: RewardConfig) -> None:
    _WORKER.update(new_workspace(config))
    util.Finalize(None, close_workspace, args=(_WORKER,), exitpriority=10)  # pool children skip atexit


def needs_simulator(item: dict, config: RewardConfig) -> bool:
    """Whether scoring `item` regenerates (the answer rejects a faulty image with a refined prompt)."""
    verdict, _ = read_verdict(item["text"])
    return verdict is not None and not item["success"] and not verdict.success


def score_item(item: dict, workspace: dict[str, Any]) -> dict:
    """semantic, quality, task for one answer (see sim_rewards.py for the rules)."""
    config: RewardConfig = workspace["config"]
    na_task = 0.0 if config.use_task else None
    verdict, _ = read_verdict(item["text"])
    if verdict is None:
        return {"semantic": 0.0, "quality": 0.0, "task": na_task, "regen_fault": None}
    if item["success"]:
        if config.balance_classes and not verdict.success:  # a correct image rejected: a wasted regeneration
            return {"semantic": 0.0, "quality": 0.0, "task": na_task, "regen_fault": None}
        return {"semantic": 0.5, "quality": 0.5, "task": 0.5 if config.use_task else None, "regen_fault": None}
    if verdict.success:
        return {"semantic": 0.0, "quality": 0.0, "task": na_task, "regen_fault": None}
    return regenerate_and_score(item, verdict.refine_prompt, workspace)


def regenerate_and_score(item: dict, refine_prompt: str, workspace: dict[str, Any]) -> dict:
    """Run `refine_prompt` on the row's source snapshot and score the result against the ground truth."""
    from interleave_robot.sim_envs.language import Subgoal
    from interleave_robot.sim_envs.placement import relation_holds
    from interleave_robot.sim_envs.scene import SimSnapshot

    config: RewardConfig = workspace["config"]
    source = SimSnapshot.from_dict(json.loads(item["source_snapshot"]))
    gt = SimSnapshot.from_dict(json.loads(item["gt_snapshot"]))
    subgoal = Subgoal.from_dict(json.loads(item["subgoal"]))
    seed = regeneration_seed(item["row_seed"], refine_prompt)
    result = workspace["generator"].generate(GenerationRequest(
        prompt=refine_prompt, seed=seed, source_image=item["before"], source_state=source))
    fault = result.metadata.get("fault", "none")
    state = result.state.state
    semantic = float(relation_holds(source.spec, state, subgoal)
                     and others_in_place(source.spec, state, gt.state, subgoal.obj))
    # A prompt the editor could not read yields the source image back: no edit, no quality credit
    # (a measured GRPO run learned to write unreadable refine prompts to collect it).
    quality = 0.0 if fault in IMAGE_FAULTS or fault == "unparsed" else 1.0
    task = None
    if config.use_task:
        task = task_completion(item, source, result.image, seed, workspace)
    return {"semantic": semantic, "quality": quality, "task": task, "regen_fault": fault}


def _run_chunk(items: list[dict]) -> list[dict]:
    return [score_item(item, _WORKER) for item in items]


def scene_chunks(items: list[dict], processes: int) -> list[list[int]]:
    """Indices of `items` cut into contiguous chunks, items of one episode (one scene) next to each other."""
    order: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        order.setdefault(item["task"], []).append(i)
    ranked = [i for group in order.values() for i in group]
    count = min(len(ranked), CHUNKS_PER_PROCESS * processes)
    return [ranked[len(ranked) * c // count:len(ranked) * (c + 1) // count] for c in range(count)]


class StepScorerPool:
    """Scores batches of answers, in this process and `workers - 1` spawn children; caches by (row, answer)."""

    def __init__(self, config: RewardConfig):
        self.config = config
        self._cache: dict[tuple, dict] = {}
        self._lock = threading.Lock()
        self._local_lock = threading.Lock()  # this process's workspace: one thread at a time
        self._executor: ProcessPoolExecutor | None = None
        self._local: dict[str, Any] | None = None  # this process's workspace (it scores with every workers)
        self._log = open(config.log_path, "a", encoding="utf-8") if config.log_path else None

    def _ensure(self) -> None:
        if self._local is None:
            self._local = new_workspace(self.config)
        if self.config.workers > 1 and self._executor is None:
            # This process scores too (share_work): workers - 1 children.
            self._executor = spawn_pool(self.config.workers - 1, _init_worker, (self.config,))

    def score_batch(self, texts: list[str], columns: dict) -> list[dict]:
        """Terms for each answer; `columns` are the critic-rl dataset columns trl passes."""
        keys = [(int(columns["row_seed"][i]), text) for i, text in enumerate(texts)]
        todo, seen = [], set()  # the first answer of each (row, answer) not cached yet
        for i, key in enumerate(keys):
            if key not in self._cache and key not in seen:
                seen.add(key)
                todo.append(i)
        if todo:
            items = [make_item(texts[i], columns, i) for i in todo]
            self._ensure()
            results: list[dict | None] = [None] * len(items)
            work = [j for j, item in enumerate(items) if needs_simulator(item, self.config)]
            for j in sorted(set(range(len(items))) - set(work)):
                results[j] = score_item(items[j], self._local)  # no simulator needed: no process either
            if work:
                chunks = [[work[c] for c in chunk] for chunk in scene_chunks([items[j] for j in work],
                                                                             self.config.workers)]
                local = self._score_here if self._local_lock.acquire(blocking=False) else None
                try:
                    scored = share_work(self._executor, _run_chunk, [[items[j] for j in chunk] for chunk in chunks],
                                        local)
                finally:
                    if local is not None:
                        self._local_lock.release()
                for chunk, chunk_results in zip(chunks, scored):
                    for j, res in zip(chunk, chunk_results):
                        results[j] = res
            with self._lock:
                if len(self._cache) > _CACHE_LIMIT:
                    self._cache.clear()
                for i, res in zip(todo, results):
                    self._cache[keys[i]] = res
                    if self._log:
                        self._log.write(json.dumps({"row_seed": keys[i][0], "answer": texts[i][:300], **res}) + "\n")
                if self._log:
                    self._log.flush()
        return [self._cache[k] for k in keys]

    def _score_here(self, items: list[dict]) -> list[dict]:
        return [score_item(item, self._local) for item in items]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None
        if self._local is not None:
            close_workspace(self._local)
            self._local = None
        if self._log:
            self._log.close()
            self._log = None


def make_item(text: str, columns: dict, i: int) -> dict:
    """One work item from the i-th row's columns (images arrive as PIL images from datasets)."""
    before = columns["images"][i][0]
    return {"text": text, "success": bool(columns["success"][i]), "row_seed": int(columns["row_seed"][i]),
            "source_snapshot": columns["source_snapshot"][i], "gt_snapshot": columns["gt_snapshot"][i],
            "subgoal": columns["subgoal"][i], "task": columns["task"][i], "step_index": int(columns["step_index"][i]),
            "num_steps": int(columns["num_steps"][i]), "instruction": columns["instruction"][i],
            "before": np.asarray(before.convert("RGB"), dtype=np.uint8) if not isinstance(before, np.ndarray)
            else before}

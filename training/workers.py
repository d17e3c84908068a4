"""Worker processes for data building and reward scoring that scale with cores.

What made 2 processes slower than 1 here (docs/BENCHMARKS.md, training section):
- thread oversubscription: each spawned worker started its own thread pools (OpenMP/BLAS for
  numpy and torch, and Mesa llvmpipe's rasterizer threads behind the EGL renderer, one per
  core by default), so 2 workers on 2 cores ran 4-8 busy threads;
- per-process start-up paid again and again: a build worker re-created every family's env
  and two simulated generators (each a MuJoCo model and a GL context) per episode and per
  shard, and a benchmark with one shard per worker timed mostly that;
- a pool started inside the timed region (spawn imports the training stack in each child).
The fix: every worker runs with one thread of each kind (the environment is set before the
child imports anything, as spawn children inherit it), simulator objects are cached per
process and closed once at exit, and shards are cut so every worker has work.

What still cost the 2-process runs time after that (measured 2026-12-02, docs/BENCHMARKS.md):
- the parent process sat idle while its children worked, and a child is ready only after
  its imports (datasets, MuJoCo, scipy: 1-3 s): `share_work` has this process work too, from
  the back of the task list, while the children take tasks from the front, so `workers`
  processes are this one plus `workers - 1` children, and a child that starts late only
  does fewer tasks;
- a fixed split leaves one process idle at the end when tasks differ in cost (a shard of 50
  episodes and one of 10; a regeneration with the executor and one without): this process
  takes every task no child has started yet (a future that can still be cancelled), so the
  two meet wherever the costs put them.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence

# Thread pools a worker must not fan out: OpenMP (torch, numpy's BLAS), OpenBLAS, MKL, Mesa llvmpipe.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "LP_NUM_THREADS")
SWITCH_INTERVAL_S = 0.0005  # the GIL switch interval while work is shared (see share_work)


@contextlib.contextmanager
def single_threaded_children():
    """Set one thread per pool in the environment while a process pool is created (children inherit it)."""
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    for key in THREAD_VARIABLES:
        os.environ[key] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def one_thread() -> None:
    """In a worker: one thread for torch too, if it is loaded (it reads OMP_NUM_THREADS only at import)."""
    for key in THREAD_VARIABLES:
        os.environ.setdefault(key, "1")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def spawn_pool(workers: int, initializer=None, initargs: tuple = (), wait_ready: bool = True):
    """A started spawn ProcessPoolExecutor whose children run single-threaded (see the module docstring).

    The executor starts children on demand, so `workers` warm-up tasks are submitted while the
    environment holds one thread per pool: every child starts then. With `wait_ready` (the
    default) this returns once every child has run its initializer, so the start-up is paid
    here, not in the first timed batch; without it, at once (the children start meanwhile).
    """
    with single_threaded_children():
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init, initargs=(initializer, initargs))
        warm_up = [pool.submit(os.getpid) for _ in range(workers)]
        if wait_ready:
            for future in warm_up:
                future.result()
    return pool


def share_work(pool: ProcessPoolExecutor | None, fn: Callable, tasks: Sequence, local: Callable | None = None,
               on_result: Callable[[Any], None] | None = None) -> list:
    """[fn(task) for task in tasks], computed by `pool`'s children and, with `local`, this process too.

    Every task is submitted; the children take them from the front, in order. Meanwhile this
    process runs `local(task)` (the same computation with its own resources) on the last task
    that no child has started yet, whose future it cancels, until none is left; then it waits
    for the children. Results come back in task order; `on_result(result)` is called as each
    one arrives (in this process, for the children's results too). Tasks must not depend on
    which process runs them or in which order (every builder and scorer here is seeded per task).
    """
    if pool is None or not tasks:
        results = []
        for task in tasks:
            results.append(local(task) if local is not None else fn(task))
            if on_result is not None:
                on_result(results[-1])
        return results
    # The pool's manager and feeder threads hand tasks to the children and need the GIL, which
    # this thread holds while it computes: a shorter switch interval than the default 5 ms cut
    # the wait of a child for its first task from ~14 to ~9 ms (measured on the loaded 2-core box).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL_S))
    try:
        return _share(pool, fn, tasks, local, on_result)
    finally:
        sys.setswitchinterval(interval)


def _share(pool, fn, tasks, local, on_result) -> list:
    futures = [pool.submit(fn, task) for task in tasks]
    results: list = [None] * len(tasks)
    stolen = [False] * len(tasks)
    if local is not None:
        # Children start tasks in submission order: once a future cannot be cancelled, no earlier one can.
        for i in range(len(tasks) - 1, -1, -1):
            if not futures[i].cancel():
                break
            results[i], stolen[i] = local(tasks[i]), True
            if on_result is not None:
                on_result(results[i])
    remaining = {f: i for i, f in enumerate(futures) if not stolen[i]}
    try:
        while remaining:
            done, _ = wait(remaining, return_when="FIRST_COMPLETED")
            for future in done:
                i = remaining.pop(future)
                results[i] = future.result()
                if on_result is not None:
                    on_result(results[i])
    except BaseException:
        for future in remaining:
            future.cancel()
        raise
    return results


def _init(initializer, initargs: tuple) -> None:
    one_thread()
    if initializer is not None:
        initializer(*initargs)

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
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

# Thread pools a worker must not fan out: OpenMP (torch, numpy's BLAS), OpenBLAS, MKL, Mesa llvmpipe.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "LP_NUM_THREADS")


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


def spawn_pool(workers: int, initializer=None, initargs: tuple = ()):
    """A started spawn ProcessPoolExecutor whose children run single-threaded (see the module docstring).

    The executor starts children on demand, so `workers` warm-up tasks are submitted while the
    environment holds one thread per pool: every child starts then (and its start-up is paid
    here, not in the first timed batch).
    """
    with single_threaded_children():
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init, initargs=(initializer, initargs))
        for future in [pool.submit(os.getpid) for _ in range(workers)]:
            future.result()
    return pool


def _init(initializer, initargs: tuple) -> None:
    one_thread()
    if initializer is not None:
        initializer(*initargs)

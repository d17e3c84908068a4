"""8 concurrent guidance runs against an I/O-bound HTTP generator: wall time relative to one run.

The generator is the real `interleave-robot serve-generator` process serving the scripted
"echo" generator with a sleep per call (an I/O-bound stand-in for a remote GPU editor). Each
run is the real loop (static planner, HTTP generator client, scripted critic that rejects the
first attempt of each step, so 2 generator calls per step). One run alone is timed, then N
runs at once in threads sharing one pipeline; the best of `--repeats` of each is kept.
Target: N runs take <= 1.3x the wall time of one. The same run with the echo generator in
process (no HTTP) is timed beside it, for the per-call cost of the HTTP hop.

    python benchmarks/bench_http_concurrency.py [--runs 8] [--sleep 0.2] [--steps 3] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.registry import CRITICS, GENERATORS, PLANNERS
from interleave_robot.types import Observation


def start_server(sleep_s: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "interleave_robot", "serve-generator", "--generator", "echo",
                             "--generator-opt", f"sleep_s={sleep_s}", "--port", "0"],
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    line = proc.stderr.readline()
    if " on http://" not in line:
        proc.kill()
        raise SystemExit(f"serve-generator did not start: {line!r}")
    return proc, line.split(" on ")[1].split()[0]


def make_pipeline(generator, steps: int) -> GuidancePipeline:
    planner = PLANNERS.build("static", {"steps": [f"move block {i} to the left" for i in range(steps)]})
    critic = CRITICS.build("always", {"reject_first": 1})
    return GuidancePipeline(planner, generator, critic, PipelineConfig(generator_timeout_s=30.0))


def one_run(pipe: GuidancePipeline, seed: int) -> int:
    image = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    trajectory = pipe.run("move every block left", Observation(image))
    if trajectory.error or not trajectory.finished or any(s.flagged for s in trajectory.steps):
        raise SystemExit(f"run {seed} failed: {trajectory.error}")
    return trajectory.generator_calls


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.2, help="generator sleep per call (s)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    proc, url = start_server(args.sleep)
    try:
        pipe = make_pipeline(GENERATORS.build("http", {"endpoints": url}), args.steps)
        direct = make_pipeline(GENERATORS.build("echo", {"sleep_s": args.sleep}), args.steps)
        calls = one_run(pipe, 0)  # warm-up: imports, connections
        in_process = [timed(lambda: one_run(direct, 1)) for _ in range(args.repeats)]
        with ThreadPoolExecutor(max_workers=args.runs) as pool:
            list(pool.map(lambda s: one_run(pipe, s), range(args.runs)))  # warm-up of the thread pool
            single = [timed(lambda: one_run(pipe, 1)) for _ in range(args.repeats)]
            many = [timed(lambda: list(pool.map(lambda s: one_run(pipe, s), range(args.runs))))
                    for _ in range(args.repeats)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    sleep_total = calls * args.sleep
    best_single, best_many = min(single), min(many)
    print(f"generator: serve-generator echo, sleep {args.sleep:.3f} s/call; {calls} calls per run "
          f"({args.steps} steps, first attempt of each rejected)")
    print(f"1 run:            best {best_single:.3f} s  median {statistics.median(single):.3f} s  "
          f"(generator sleep alone {sleep_total:.3f} s; overhead {1000 * (best_single - sleep_total) / calls:.1f} "
          f"ms/call)")
    print(f"1 run, in-process echo (no HTTP): best {min(in_process):.3f} s; HTTP adds "
          f"{1000 * (best_single - min(in_process)) / calls:.1f} ms/call")
    print(f"{args.runs} concurrent runs: best {best_many:.3f} s  median {statistics.median(many):.3f} s")
    ratio = best_many / best_single
    median_ratio = statistics.median(many) / statistics.median(single)
    print(f"ratio {args.runs} runs / 1 run: {ratio:.3f} (median {median_ratio:.3f}); "
          f"target <= 1.3: {'met' if ratio <= 1.3 else 'NOT met'}")


if __name__ == "__main__":
    main()

"""Orchestration overhead of GuidancePipeline, measured side by side in one run.

1. Instant backends (echo generator, rule critic): the loop's own cost per generator call,
   (wall - time inside the backends) / generator calls, next to a bare hand-written loop doing
   the same calls. Target: well under 1 ms per call.
2. 50 ms backends (generator and critic sleep 50 ms): wall time / summed backend time.
   Target: <= 1.02.

Each variant: no timeout (calls inline), a timeout set (calls hop to the reused worker thread),
a listener attached, and a RunStore (PNG + fsync per attempt: disk I/O, reported apart).

    python benchmarks/bench_orchestration.py [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from interleave_robot.backends.scripted import (AlwaysCritic, AlwaysCriticConfig, EchoGenerator, EchoGeneratorConfig,
                                                StaticPlanner, StaticPlannerConfig)
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.store import RunStore
from interleave_robot.types import CritiqueRequest, GenerationRequest, Observation


class TimedGenerator(EchoGenerator):
    """Accumulates the time spent inside the real generate()."""

    busy = 0.0

    def generate(self, request):
        t0 = time.perf_counter()
        try:
            return super().generate(request)
        finally:
            self.busy += time.perf_counter() - t0


class TimedCritic(AlwaysCritic):
    busy = 0.0

    def critique(self, request):
        t0 = time.perf_counter()
        try:
            return super().critique(request)
        finally:
            self.busy += time.perf_counter() - t0


def _backends(steps: int, sleep_s: float, reject_first: int):
    planner = StaticPlanner(StaticPlannerConfig(steps=[f"move block {i} to the left" for i in range(steps)]))
    generator = TimedGenerator(EchoGeneratorConfig(sleep_s=sleep_s))
    critic = TimedCritic(AlwaysCriticConfig(reject_first=reject_first, sleep_s=sleep_s))
    return planner, generator, critic


def run_pipeline(steps, sleep_s, reject_first, image, timeout=None, listener=False, store=False):
    """One run; returns (wall seconds, seconds inside backends, generator calls)."""
    planner, generator, critic = _backends(steps, sleep_s, reject_first)
    config = PipelineConfig(max_attempts_per_step=reject_first + 1, generator_timeout_s=timeout,
                            critic_timeout_s=timeout)
    pipe = GuidancePipeline(planner, generator, critic, config)
    events = []
    with tempfile.TemporaryDirectory() as tmp:
        run_store = RunStore.create(tmp) if store else None
        t0 = time.perf_counter()
        traj = pipe.run("benchmark", Observation(image=image), listeners=[events.append] if listener else None,
                        store=run_store)
        wall = time.perf_counter() - t0
        if run_store:
            run_store.close()
    assert traj.finished and traj.generator_calls == steps * (reject_first + 1)
    return wall, generator.busy + critic.busy, traj.generator_calls


def run_bare_loop(steps, sleep_s, reject_first, image):
    """The same backend calls in a minimal hand-written loop: the floor any orchestration pays."""
    planner, generator, critic = _backends(steps, sleep_s, reject_first)
    t0 = time.perf_counter()
    plan = planner.plan(None, None)
    source, calls = image, 0
    for step in plan.steps:
        prompt = step.prompt
        for attempt in range(reject_first + 1):
            out = generator.generate(GenerationRequest(prompt=prompt, seed=attempt, source_image=source))
            calls += 1
            verdict = critic.critique(CritiqueRequest(before_image=source, after_image=out.image,
                                                      instruction=step.instruction, prompt=prompt))
            if verdict.success:
                source = out.image
                break
            prompt = verdict.refine_prompt
    return time.perf_counter() - t0, generator.busy + critic.busy, calls


def measure(fn, repeats, *args, **kwargs):
    """Median over repeats of (wall, busy, calls)."""
    results = [fn(*args, **kwargs) for _ in range(repeats)]
    return tuple(statistics.median(r[i] for r in results) for i in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args()
    image = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    repeats_fast, repeats_slow = (5, 1) if args.quick else (30, 3)

    print("1) instant backends: orchestration overhead per generator call "
          "(20 steps x 3 attempts = 60 generator + 60 critic calls per run, median of runs)")
    bare_wall, bare_busy, calls = measure(run_bare_loop, repeats_fast, 20, 0.0, 2, image)
    bare = (bare_wall - bare_busy) / calls
    print(f"   {'bare hand-written loop':34s} {bare * 1e6:8.1f} us/call")
    variants = [("pipeline, no timeout", {}), ("pipeline, timeout set (worker)", {"timeout": 30.0}),
                ("pipeline + listener", {"listener": True}), ("pipeline + RunStore (PNG+fsync)", {"store": True})]
    for name, kwargs in variants:
        wall, busy, calls = measure(run_pipeline, repeats_fast if not kwargs.get("store") else 3,
                                    20, 0.0, 2, image, **kwargs)
        per_call = (wall - busy) / calls
        print(f"   {name:34s} {per_call * 1e6:8.1f} us/call   ({per_call / bare:5.1f}x the bare loop; "
              f"target < 1000 us)")

    print("2) 50 ms backends: wall / summed backend time "
          "(4 steps x 2 attempts = 8 generator + 8 critic calls of 50 ms per run)")
    wall, busy, _ = measure(run_bare_loop, repeats_slow, 4, 0.05, 1, image)
    print(f"   {'bare hand-written loop':34s} {wall / busy:8.4f}")
    for name, kwargs in variants:
        wall, busy, _ = measure(run_pipeline, repeats_slow, 4, 0.05, 1, image, **kwargs)
        print(f"   {name:34s} {wall / busy:8.4f}   (wall {wall:.3f} s, backends {busy:.3f} s; target <= 1.02)")


if __name__ == "__main__":
    main()

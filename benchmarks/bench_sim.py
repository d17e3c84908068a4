"""Simulation speed, side by side in one run: our tabletop scene vs a Meta-World v3 env.

    python benchmarks/bench_sim.py [--quick]

Measures physics steps/s, rendered RGB frames/s at 128x128 and 256x256 (ours: shadows and
MSAA off; Meta-World: its defaults), env steps/s with observations, episodes per minute of
a 3-step stack task (teacher -> sim generator -> perception critic -> executor, closed loop)
rendering every step's frames against rendering on demand (interleaved, same seeds), and the
bench's scaling from 1 to 2 worker processes (and a local Ray instance when ray is installed). Mesa's llvmpipe is limited to one thread
(LP_NUM_THREADS=1) so frame rates are per core, unless --lp-threads says otherwise.

    python benchmarks/bench_sim.py --skip-metaworld --baseline-rev REV

also runs the same episodes with the code of git revision REV of this repository beside this
tree's, each rendering every step and on demand: four worker processes (one per code and mode)
take the episodes in turn, so machine load hits all alike; it reports each one's episodes/min
and whether their outcomes are identical.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _rate(fn, n: int) -> float:
    fn()  # warm-up (first frame compiles shaders, first step builds caches)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def ours(sizes, n_frames: int, n_physics: int) -> dict:
    import gymnasium as gym
    import numpy as np

    import interleave_robot.sim_envs  # noqa: F401
    from interleave_robot.sim_envs.rendering import SceneRenderer, import_mujoco

    mj = import_mujoco()
    env = gym.make("InterleaveRobot/Stack-v0")
    env.reset(seed=0, options={"steps": 3})
    u = env.unwrapped
    out = {"physics_steps_per_s": n_physics / _timed(lambda: mj.mj_step(u.model, u.data, nstep=n_physics))}
    for size in sizes:
        with SceneRenderer(u.model, size, size) as r:
            out[f"rgb_fps_{size}"] = _rate(lambda: r.rgb(u.data, "front"), n_frames)
            out[f"depth_fps_{size}"] = _rate(lambda: r.depth(u.data, "front"), n_frames)
    action = np.array([0.1, 0.0, 0.0, 0.0], np.float32)
    out["env_steps_per_s"] = _rate(lambda: env.step(action), 200)
    env.close()
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def metaworld_env(sizes, n_frames: int, n_physics: int) -> dict:
    import gymnasium as gym
    import metaworld  # noqa: F401  (registers Meta-World/*)
    import mujoco

    out = {}
    for size in sizes:
        env = gym.make("Meta-World/MT1", env_name="pick-place-v3", render_mode="rgb_array", width=size,
                       height=size, seed=0)
        env.reset(seed=0)
        out[f"rgb_fps_{size}"] = _rate(env.render, n_frames)
        if "physics_steps_per_s" not in out:
            u = env.unwrapped
            out["physics_steps_per_s"] = n_physics / _timed(lambda: mujoco.mj_step(u.model, u.data, nstep=n_physics))
            out["env_steps_per_s"] = _rate(lambda: env.step(env.action_space.sample()), 100)
        env.close()
    return out


def episodes_per_minute(n: int) -> dict:
    """Episodes per minute on one core, rendering every env step's frames (before) against
    rendering only the frames someone reads (after), interleaved episode by episode so that
    machine load hits both alike; the same seeds and outcomes in both."""
    from interleave_robot.sim_envs.episode import EpisodeConfig, EpisodeRunner

    runners = {"eager": EpisodeRunner(env_options={"render_on_demand": False}), "on_demand": EpisodeRunner()}
    out = {}
    try:
        for runner in runners.values():
            runner.run(EpisodeConfig(family="stack", seed=999, steps=3))  # warm-up
        for label, rate, critic in (("oracle", 0.0, "none"), ("fault0.3_critic", 0.3, "perception")):
            seconds = {k: 0.0 for k in runners}
            wins = {k: [] for k in runners}
            for s in range(n):
                for key, runner in runners.items():
                    t0 = time.perf_counter()
                    wins[key].append(runner.run(EpisodeConfig(family="stack", seed=s, steps=3, fault_rate=rate,
                                                              critic=critic)).success)
                    seconds[key] += time.perf_counter() - t0
            for key in runners:
                out[f"episodes_per_min_{label}_{key}"] = 60 * n / seconds[key]
            out[f"render_on_demand_speedup_{label}"] = seconds["eager"] / seconds["on_demand"]
            assert wins["eager"] == wins["on_demand"], "rendering on demand changed an outcome"
            out[f"success_{label}"] = sum(wins["on_demand"]) / n
    finally:
        for runner in runners.values():
            runner.close()
    return out


_WORKER = r"""
import json, sys, time
from interleave_robot.sim_envs.episode import EpisodeConfig, EpisodeRunner
eager = sys.argv[1] == "eager"
try:
    runner = EpisodeRunner(env_options={"render_on_demand": not eager})
except TypeError:  # a revision from before rendering on demand: every step is rendered
    runner = EpisodeRunner()
runner.run(EpisodeConfig(family="stack", seed=999, steps=3))  # warm-up
print("ready", flush=True)
for line in sys.stdin:
    seed, rate, critic = json.loads(line)
    t0 = time.perf_counter()
    result = runner.run(EpisodeConfig(family="stack", seed=seed, steps=3, fault_rate=rate, critic=critic))
    seconds = time.perf_counter() - t0
    outcome = {k: v for k, v in result.to_dict().items() if k != "seconds"}
    print(json.dumps([seconds, json.dumps(outcome, sort_keys=True, default=str)]), flush=True)
"""
_WHERE = "import interleave_robot.sim_envs.episode as e; print(e.__file__)"


def _checkout(rev: str, into: Path) -> Path:
    """The files of git revision `rev`, importable as interleave_robot (the folders setup.py maps)."""
    repo = REPO if (REPO / ".git").exists() else Path.cwd()  # this script from an archive: the repository here
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for folder in ("sim_envs", "ros_nodes", "training"):
        if (into / folder).is_dir() and not (into / "interleave_robot" / folder).exists():
            (into / "interleave_robot" / folder).symlink_to(into / folder)
    return into


def versus_revision(rev: str, n: int) -> dict:
    """Episodes/min of revision `rev` against this tree, each eager and on demand, interleaved
    episode by episode over four worker processes; and whether all four had the same outcomes."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp) / "rev"  # not the workers' directory: `python -c` imports from there first
        checkout.mkdir()
        paths = {rev: str(_checkout(rev, checkout)), "tree": os.environ.get("PYTHONPATH", "")}  # tree: as installed
        workers = {}
        for code, path in paths.items():
            env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")
            where = subprocess.run([sys.executable, "-c", _WHERE], cwd=tmp, env=env, capture_output=True, text=True,
                                   check=True).stdout.strip()
            expected = checkout if code == rev else REPO
            if not Path(where).resolve().is_relative_to(expected.resolve()):
                raise RuntimeError(f"the {code} workers would import {where}, not the code under {expected}")
            for mode in ("eager", "on_demand"):
                workers[(code, mode)] = subprocess.Popen([sys.executable, "-c", _WORKER, mode], cwd=tmp, env=env,
                                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            for worker in workers.values():
                if worker.stdout.readline().strip() != "ready":
                    raise RuntimeError("a benchmark worker failed to start")
            for label, rate, critic in (("oracle", 0.0, "none"), ("fault0.3_critic", 0.3, "perception")):
                seconds = {k: 0.0 for k in workers}
                outcomes = {k: [] for k in workers}
                for s in range(n):
                    for key, worker in workers.items():
                        worker.stdin.write(json.dumps([s, rate, critic]) + "\n")
                        worker.stdin.flush()
                        took, outcome = json.loads(worker.stdout.readline())
                        seconds[key] += took
                        outcomes[key].append(outcome)
                for (code, mode), total in seconds.items():
                    out[f"episodes_per_min_{label}_{'rev' if code == rev else 'tree'}_{mode}"] = 60 * n / total
                out[f"tree_on_demand_vs_rev_eager_{label}"] = seconds[(rev, "eager")] / seconds[("tree", "on_demand")]
                out[f"tree_on_demand_vs_rev_on_demand_{label}"] = (seconds[(rev, "on_demand")]
                                                                  / seconds[("tree", "on_demand")])
                out[f"outcomes_identical_{label}"] = float(len({tuple(v) for v in outcomes.values()}) == 1)
        finally:
            for worker in workers.values():
                worker.stdin.close()
                worker.wait(timeout=60)
    return out


def scaling(n: int) -> dict:
    from interleave_robot.sim_envs.bench_cmd import run_job, run_jobs

    jobs = [{"task": "stack", "fault_rate": 0.3, "critic": "perception", "loop": "closed", "seed": s,
             "planner": "teacher", "generator": "sim", "planner_options": {}, "generator_options": {},
             "critic_options": {}, "requested_steps": 3, "max_attempts": 3, "max_replans": 2, "execution_noise": 0.0}
            for s in range(n)]
    out = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_jobs(jobs, Path(tmp), workers, progress=False)
            out[f"bench_wall_s_{workers}_proc"] = time.perf_counter() - t0
    out["bench_speedup_2_vs_1"] = out["bench_wall_s_1_proc"] / out["bench_wall_s_2_proc"]
    try:
        import ray  # noqa: F401  (the optional `ray` extra)
    except ImportError:
        return out
    from interleave_robot.sim_envs.bench_ray import run_on_ray

    rows = []
    t0 = time.perf_counter()
    run_on_ray(jobs, run_job, rows.append, num_cpus=2)
    out["bench_wall_s_ray_local_2cpu"] = time.perf_counter() - t0
    out["ray_local_vs_2_proc"] = out["bench_wall_s_2_proc"] / out["bench_wall_s_ray_local_2cpu"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--lp-threads", default="1", help="Mesa llvmpipe threads (default 1: per-core numbers)")
    parser.add_argument("--skip-metaworld", action="store_true")
    parser.add_argument("--only-episodes", action="store_true", help="only episodes/min and scaling")
    parser.add_argument("--baseline-rev", help="also run the episodes with this git revision's code, side by side")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ["LP_NUM_THREADS"] = args.lp_threads
    q = args.quick
    sizes = (128, 256)
    results = {"ours": {} if args.only_episodes else ours(sizes, 50 if q else 300, 2000 if q else 20000)}
    if not args.skip_metaworld and not args.only_episodes:
        results["metaworld"] = metaworld_env(sizes, 3 if q else 15, 2000 if q else 20000)
    results["episodes"] = episodes_per_minute(2 if q else 8)
    results["scaling"] = scaling(4 if q else 8)
    results["versus"] = versus_revision(args.baseline_rev, 2 if q else 8) if args.baseline_rev else {}

    print(f"machine: {os.cpu_count()} CPU(s), MUJOCO_GL={os.environ['MUJOCO_GL']}, LP_NUM_THREADS={args.lp_threads}")
    print(f"{'metric':<24}{'ours':>12}{'meta-world':>14}{'ratio':>10}")
    mw = results.get("metaworld", {})
    for key in () if args.only_episodes else ("physics_steps_per_s", "env_steps_per_s", "rgb_fps_128",
                                              "rgb_fps_256", "depth_fps_128", "depth_fps_256"):
        a, b = results["ours"].get(key), mw.get(key)
        ratio = f"{a / b:9.1f}x" if a and b else "       -"
        print(f"{key:<24}{a:>12.1f}{(f'{b:.1f}' if b else '-'):>14}{ratio:>10}")
    if args.baseline_rev:
        print(f"rev = {args.baseline_rev}, tree = this working tree")
    for key, value in {**results["episodes"], **results["scaling"], **results["versus"]}.items():
        print(f"{key:<24}{value:>12.2f}")
    if not args.only_episodes:
        target = results["ours"]["rgb_fps_128"]
        print(f"target >= 300 RGB frames/s at 128x128 on one core: {'met' if target >= 300 else 'NOT met'} ({target:.0f})")
    speedup = results["episodes"]["render_on_demand_speedup_fault0.3_critic"]
    print(f"target >= 3x episodes/min/core from rendering on demand: {'met' if speedup >= 3 else 'NOT met'} "
          f"({speedup:.2f}x, this code rendering every step against this code rendering on demand)")
    if args.baseline_rev:
        versus = results["versus"]["tree_on_demand_vs_rev_eager_fault0.3_critic"]
        print(f"target >= 3x against {args.baseline_rev} rendering every step: {'met' if versus >= 3 else 'NOT met'} "
              f"({versus:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

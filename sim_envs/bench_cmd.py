"""`interleave-robot bench`: the guidance benchmark over task families x fault rates x critics x loops.

Episode i of every configuration uses seed S+i (`--seed S`, default 0: the same layouts
everywhere, so configurations are compared pair by pair). Any planner, generator and critic
(`--planner/--generator/--critic` and their `--*-opt`, as `run` takes them; `--critic` a
comma-separated list swept like the fault rates, `none` = no critic, `on`/`off` aliases of
perception/none). Episodes run in worker processes (forkserver/spawn: each builds its own
MuJoCo and EGL contexts) or on a Ray cluster (`--workers ray`, `--ray-address`), and are
appended to episodes.jsonl as they finish; a re-run with the same --out skips the episodes
already there, so an interrupted bench keeps its finished rows. Writes results.json /
results.csv (a row per configuration), plots and report.md.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from pathlib import Path

from tqdm import tqdm

from interleave_robot.cli.agent_args import NO_CRITIC, add_agent_arguments, agent_options
from interleave_robot.errors import ConfigError
from interleave_robot.sim_envs.bench_ray import run_on_ray
from interleave_robot.sim_envs.bench_report import aggregate, print_table, write_outputs
from interleave_robot.sim_envs.demo_cmd import add_loop_arguments
from interleave_robot.sim_envs.env_cache import close_cached_envs

HELP = "benchmark guidance in simulation: success per task family, fault rate, critic and loop, on any agents"
EPISODES_FILE = "episodes.jsonl"
CRITIC_ALIASES = {"on": "perception", "off": NO_CRITIC}
_RUNNER = None  # one EpisodeRunner per worker process
KEY_FIELDS = ("task", "fault_rate", "critic", "loop", "planner", "generator", "execution_noise", "seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", default="stack,sort,line,pick_place", help="comma-separated task families")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per configuration (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="episode i uses seed SEED+i (default 0)")
    parser.add_argument("--fault-rates", default="0,0.3", help="comma-separated fault rates (0 = oracle generator)")
    add_agent_arguments(parser, {"planner": "teacher", "generator": "sim", "critic": "perception,none"},
                        critic_list=True)
    add_loop_arguments(parser, sweep=True)
    parser.add_argument("--workers", default="2",
                        help="worker processes (default 2), or 'ray' for a Ray cluster (the `ray` extra)")
    parser.add_argument("--ray-address", default=None,
                        help="a Ray cluster to run on (implies --workers ray; default: a local Ray instance)")
    parser.add_argument("--steps", type=int, default=None, help="task steps (default: each family's range)")
    parser.add_argument("--max-attempts", type=int, default=3, help="generator attempts per step (default 3)")
    parser.add_argument("--out", default="runs/bench", help="output directory (default runs/bench)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parse_list(text: str, what: str, cast) -> list:
    try:
        items = [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"--{what}: cannot read {text!r}") from None
    if not items:
        raise ConfigError(f"--{what} is empty")
    return items


def _key(job: dict) -> tuple:
    return tuple(str(job.get(k)) if k in ("critic", "loop", "planner", "generator", "task") else float(job.get(k) or 0)
                 for k in KEY_FIELDS)


def _init_worker() -> None:
    global _RUNNER
    from interleave_robot.sim_envs.episode import EpisodeRunner

    _RUNNER = EpisodeRunner()


def _close_worker() -> None:
    """Free the in-process runner's agents and the process's envs (pool workers are terminated)."""
    global _RUNNER

    if _RUNNER is not None:
        _RUNNER.close()
        _RUNNER = None
    close_cached_envs()


def episode_config_of(job: dict):
    """The EpisodeConfig of one bench job."""
    from interleave_robot.sim_envs.episode import EpisodeConfig

    return EpisodeConfig(family=job["task"], seed=job["seed"], fault_rate=job["fault_rate"],
                         steps=job["requested_steps"], max_attempts_per_step=job["max_attempts"],
                         planner=job["planner"], planner_options=job["planner_options"],
                         generator=job["generator"], generator_options=job["generator_options"],
                         critic=job["critic"], critic_options=job["critic_options"] if job["critic"] != NO_CRITIC
                         else {}, loop=job["loop"], max_replans=job["max_replans"],
                         execution_noise=job["execution_noise"])


def run_job(job: dict) -> dict:
    """One episode in this process; a crash becomes an error row, never a lost worker."""
    if _RUNNER is None:
        _init_worker()
    try:
        result = _RUNNER.run(episode_config_of(job)).to_dict()
        result["error"] = None
    except Exception as exc:  # recorded and counted as a failure with its reason
        result = {"task": "", "success": False, "error": f"{type(exc).__name__}: {exc}", "steps": 0,
                  "generator_calls": 0, "critic_rejections": 0, "accepted_faults": [], "seconds": 0.0}
    result["task_text"] = result.pop("task")
    return {**result, **job}  # "task" is the family; "steps" the plan's steps


def _load_done(path: Path) -> dict[tuple, dict]:
    done = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                done[_key(row)] = row
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by an interrupt: that episode runs again
    return done


def _critics(text: str) -> list[str]:
    return [CRITIC_ALIASES.get(c, c) for c in _parse_list(text, "critic", str)]


def jobs_of(args) -> list[dict]:
    """Every episode the options ask for, validated (backends resolved) before any work starts."""
    from interleave_robot.sim_envs.episode import EpisodeConfig

    tasks = _parse_list(args.tasks, "tasks", str)
    rates = _parse_list(args.fault_rates, "fault-rates", float)
    critics = _critics(args.critic)
    loops = _parse_list(args.loop, "loop", str)
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    options = {kind: agent_options(args, kind) for kind in ("planner", "generator", "critic")}
    for task in tasks:
        for rate in rates:
            for critic in critics:
                for loop in loops:
                    EpisodeConfig(family=task, fault_rate=rate, steps=args.steps, max_attempts_per_step=args.max_attempts,
                                  planner=args.planner, generator=args.generator, critic=critic, loop=loop,
                                  max_replans=args.max_replans, execution_noise=args.execution_noise).check_backends()
    return [{"task": t, "fault_rate": r, "critic": c, "loop": lp, "seed": args.seed + i, "planner": args.planner,
             "generator": args.generator, "planner_options": options["planner"],
             "generator_options": options["generator"], "critic_options": options["critic"],
             "requested_steps": args.steps, "max_attempts": args.max_attempts, "max_replans": args.max_replans,
             "execution_noise": args.execution_noise}
            for t in tasks for r in rates for c in critics for lp in loops for i in range(args.episodes)]


def _workers(args) -> tuple[str, int]:
    """("local", n) or ("ray", 0)."""
    if args.ray_address is not None or str(args.workers).strip().lower() == "ray":
        return "ray", 0
    try:
        n = int(args.workers)
    except ValueError:
        raise ConfigError(f"--workers must be a number of processes or 'ray', got {args.workers!r}") from None
    if n < 1:
        raise ConfigError(f"--workers must be >= 1, got {n}")
    return "local", n


def _run_local(todo: list[dict], workers: int, record) -> None:
    if workers == 1 or len(todo) <= 1:
        try:
            for job in todo:
                record(run_job(job))
        finally:
            _close_worker()
        return
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers, initializer=_init_worker) as pool:
        for row in pool.imap_unordered(run_job, todo, chunksize=1):
            record(row)


def run_jobs(jobs: list[dict], out: Path, workers: int = 2, progress: bool = True, backend: str = "local",
             ray_address: str | None = None) -> list[dict]:
    """Run the jobs not yet in out/episodes.jsonl; return every row (old and new) for them."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / EPISODES_FILE
    done = _load_done(path)
    todo = [j for j in jobs if _key(j) not in done]
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="episodes", unit="ep", file=sys.stderr,
               disable=not progress)
    with path.open("a", encoding="utf-8") as log:
        def record(row: dict) -> None:
            done[_key(row)] = row
            log.write(json.dumps(row, default=str) + "\n")
            log.flush()
            bar.update(1)

        if backend == "ray":
            run_on_ray(todo, run_job, record, ray_address)
        else:
            _run_local(todo, workers, record)
    bar.close()
    return [done[_key(j)] for j in jobs if _key(j) in done]


def run(args: argparse.Namespace) -> int:
    jobs = jobs_of(args)
    backend, workers = _workers(args)
    out = Path(args.out)
    os.makedirs(out, exist_ok=True)
    try:
        rows = run_jobs(jobs, out, workers, progress=not args.no_progress, backend=backend,
                        ray_address=args.ray_address)
    except KeyboardInterrupt:
        rows = [r for r in _load_done(out / EPISODES_FILE).values()]
        write_outputs(out, aggregate(rows))
        print(f"bench interrupted: {len(rows)} finished episode(s) kept in {out / EPISODES_FILE}; "
              "run the same command again to resume", file=sys.stderr)
        raise
    table = aggregate(rows)
    write_outputs(out, table)
    print_table(table)
    print(f"results: {out / 'results.json'}  {out / 'results.csv'}  {out / 'report.md'}")
    return 0

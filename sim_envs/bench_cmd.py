"""`interleave-robot bench`: the guidance benchmark over task families x fault rates x critic on/off.

Episode i of every configuration uses seed i (the same layouts everywhere: paired
comparison). Episodes run in worker processes (forkserver/spawn: each builds its own MuJoCo
and EGL contexts) and are appended to episodes.jsonl as they finish; a re-run with the same
--out skips the episodes already there, so an interrupted bench keeps its finished rows.
Writes results.json / results.csv (a row per configuration), plots and report.md.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

from interleave_robot.errors import ConfigError

HELP = "benchmark guidance in simulation: success per task family, fault rate and critic on/off"
EPISODES_FILE = "episodes.jsonl"
_RUNNER = None  # one EpisodeRunner per worker process


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", default="stack,sort,line,pick_place", help="comma-separated task families")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per configuration (default 20)")
    parser.add_argument("--fault-rates", default="0,0.3", help="comma-separated fault rates (0 = oracle generator)")
    parser.add_argument("--critic", default="on,off", help="on, off or on,off (default on,off)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
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


def _critic_flag(text: str) -> bool:
    if text not in ("on", "off"):
        raise ValueError(text)
    return text == "on"


def _key(job: dict) -> tuple:
    return (job["task"], float(job["fault_rate"]), bool(job["critic"]), int(job["seed"]))


def _init_worker() -> None:
    global _RUNNER
    from interleave_robot.sim_envs.episode import EpisodeRunner

    _RUNNER = EpisodeRunner()


def _close_worker() -> None:
    """Free the in-process runner's GL contexts (pool workers are simply terminated)."""
    global _RUNNER
    if _RUNNER is not None:
        _RUNNER.close()
        _RUNNER = None


def _run_job(job: dict) -> dict:
    """One episode in this process; a crash becomes an error row, never a lost worker."""
    from interleave_robot.sim_envs.episode import EpisodeConfig

    if _RUNNER is None:
        _init_worker()
    config = EpisodeConfig(family=job["task"], seed=job["seed"], fault_rate=job["fault_rate"],
                           use_critic=job["critic"], steps=job["requested_steps"],
                           max_attempts_per_step=job["max_attempts"])
    try:
        result = _RUNNER.run(config).to_dict()
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
            except (ValueError, KeyError):
                continue  # a line cut by an interrupt: that episode runs again
    return done


def _jobs(args) -> list[dict]:
    from interleave_robot.sim_envs.episode import EpisodeConfig

    tasks = _parse_list(args.tasks, "tasks", str)
    rates = _parse_list(args.fault_rates, "fault-rates", float)
    critics = _parse_list(args.critic, "critic", _critic_flag)
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    for task in tasks:
        for rate in rates:  # validates family, rate, steps before any work starts
            EpisodeConfig(family=task, fault_rate=rate, steps=args.steps, max_attempts_per_step=args.max_attempts)
    return [{"task": t, "fault_rate": r, "critic": c, "seed": s, "requested_steps": args.steps,
             "max_attempts": args.max_attempts}
            for t in tasks for r in rates for c in critics for s in range(args.episodes)]


def run_jobs(jobs: list[dict], out: Path, workers: int, progress: bool = True) -> list[dict]:
    """Run the jobs not yet in out/episodes.jsonl; return every row (old and new) for them."""
    from tqdm import tqdm

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

        if workers == 1 or len(todo) <= 1:
            try:
                for job in todo:
                    record(_run_job(job))
            finally:
                _close_worker()
        else:
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            with mp.get_context(method).Pool(workers, initializer=_init_worker) as pool:
                for row in pool.imap_unordered(_run_job, todo, chunksize=1):
                    record(row)
    bar.close()
    return [done[_key(j)] for j in jobs if _key(j) in done]


def run(args: argparse.Namespace) -> int:
    from interleave_robot.sim_envs.bench_report import aggregate, print_table, write_outputs

    jobs = _jobs(args)
    out = Path(args.out)
    try:
        rows = run_jobs(jobs, out, args.workers, progress=not args.no_progress)
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

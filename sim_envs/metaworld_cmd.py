"""`interleave-robot metaworld`: the guidance loop on Meta-World v3 tasks beside Meta-World's experts.

For each task and episode: Meta-World's scripted expert alone, then the guided run (phase
planner -> phase generator drawing each phase's subgoal image -> the expert acts in the real
env, each phase ending when the camera frame matches its subgoal image). Writes
`results.json` (a row per task) and `episodes.jsonl` to --out and prints the table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from interleave_robot.errors import ConfigError, InterleaveError
from interleave_robot.sim_envs.metaworld_adapter import TASK_NAMES, check_task
from interleave_robot.sim_envs.metaworld_runner import MetaWorldRunConfig, MetaWorldRunner

HELP = "run Meta-World v3 tasks with phase subgoal images and Meta-World's experts; compare with the expert alone"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", default=",".join(TASK_NAMES),
                        help=f"comma-separated Meta-World tasks (default: all of {', '.join(TASK_NAMES)})")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per task (default 10)")
    parser.add_argument("--action-noise", type=float, default=0.0,
                        help="std of Gaussian noise on the expert's actions, both runs (default 0)")
    parser.add_argument("--image-size", type=int, default=128, help="camera image side in pixels (default 128)")
    parser.add_argument("--out", default="runs/metaworld", help="output directory (default runs/metaworld)")


def summarize(results: list) -> list[dict]:
    """A row per task: success rates of both runs, phase matches, generator calls, time."""
    rows = []
    for task in dict.fromkeys(r.task for r in results):
        mine = [r for r in results if r.task == task]
        n = len(mine)
        rows.append({
            "task": task, "episodes": n,
            "expert_success_rate": sum(r.expert_success for r in mine) / n,
            "guided_success_rate": sum(r.guided_success for r in mine) / n,
            "phase_match_rate": sum(r.phases_matched for r in mine) / max(1, sum(r.phases for r in mine)),
            "generator_calls_per_episode": sum(r.generator_calls for r in mine) / n,
            "seconds_per_episode": sum(r.seconds for r in mine) / n,
        })
    return rows


def run(args) -> int:


    tasks = [check_task(t.strip()) for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise ConfigError("--tasks names no task")
    if not 1 <= args.episodes <= 1000:
        raise ConfigError(f"--episodes must be in 1..1000, got {args.episodes}")
    config = MetaWorldRunConfig(image_size=args.image_size, action_noise=args.action_noise)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runner = MetaWorldRunner(config)
    results = []
    try:
        with open(out / "episodes.jsonl", "w") as log, \
                tqdm(total=len(tasks) * args.episodes, desc="metaworld", file=sys.stderr) as bar:
            for task in tasks:
                for episode in range(args.episodes):
                    result = runner.run(task, episode)
                    results.append(result)
                    log.write(json.dumps(result.to_dict()) + "\n")
                    bar.update(1)
    finally:
        runner.close()
    rows = summarize(results)
    (out / "results.json").write_text(json.dumps({"config": vars(config), "rows": rows}, indent=2))
    print(f"{'task':<26}{'episodes':>9}{'expert':>8}{'guided':>8}{'phases matched':>16}{'calls/ep':>10}{'s/ep':>7}")
    for r in rows:
        print(f"{r['task']:<26}{r['episodes']:>9}{r['expert_success_rate']:>8.2f}{r['guided_success_rate']:>8.2f}"
              f"{r['phase_match_rate']:>16.2f}{r['generator_calls_per_episode']:>10.1f}{r['seconds_per_episode']:>7.1f}")
    print(f"results: {out / 'results.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m interleave_robot.sim_envs.metaworld_cmd`) until the CLI table lists it."""
    parser = argparse.ArgumentParser(prog="interleave-robot metaworld", description=HELP)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except InterleaveError as exc:
        print(f"interleave-robot metaworld: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The CPU planner experiment: planner SFT on teacher plans, measured on held-out episodes.

    python -m interleave_robot.training.reproduce_planner --out runs/planner_cpu --eval-seed 7 --downstream-seed 30000

Stages (resumable like reproduce.py): planner-sft data (--seed) -> held-out planner rows
(--eval-seed, disjoint from training) -> SFT (configs/planner_sft_cpu.yaml) -> format rate and
step accuracy against the teacher -> task success in the sim loop (perception critic, simulated
generator) with the teacher planner and with the trained planner -> results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from interleave_robot.training.builders import BuildConfig, build_dataset
from interleave_robot.training.planner_eval import evaluate_planner, planner_task_success
from interleave_robot.training.recipes import load_recipe
from interleave_robot.training.reproduce import _brief, _stage, _yaml, check_disjoint
from interleave_robot.training.sft import run_sft

os.environ.setdefault("MUJOCO_GL", "egl")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/planner_cpu")
    p.add_argument("--episodes", type=int, default=600)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--eval-seed", type=int, default=7)
    p.add_argument("--eval-episodes", type=int, default=40)
    p.add_argument("--downstream-seed", type=int, default=30_000)
    p.add_argument("--downstream-episodes", type=int, default=16)
    p.add_argument("--config", default="configs/planner_sft_cpu.yaml")
    p.add_argument("--sft-steps", type=int, default=None)
    args = p.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data, held = out / "data" / "planner-sft", out / "data" / "heldout"
    over = {"data": str(data), "output_dir": str(out / "sft"), "seed": args.seed,
            "model": {**_yaml(args.config)["model"], "path": str(out / "init")}}
    if args.sft_steps:
        over["max_steps"] = args.sft_steps
    recipe = load_recipe(args.config, "sft", over)
    _stage(out, "data", lambda: {"dir": str(build_dataset(BuildConfig(
        kind="planner-sft", episodes=args.episodes, seed=args.seed, out=str(data), test_fraction=0.05,
        shard_episodes=100)))})
    _stage(out, "data_heldout", lambda: {"dir": str(build_dataset(BuildConfig(
        kind="planner-sft", episodes=args.eval_episodes, seed=args.eval_seed, out=str(held), test_fraction=1.0,
        shard_episodes=100))), "eval_seed": args.eval_seed, "overlap_with_training": check_disjoint(data, held)})
    _stage(out, "sft", lambda: _brief(run_sft(recipe)))
    _stage(out, "eval", lambda: evaluate_planner(out / "sft" / "model", held))
    n, first = args.downstream_episodes, args.downstream_seed
    _stage(out, "downstream_teacher", lambda: planner_task_success(None, n, first))
    _stage(out, "downstream_learned", lambda: planner_task_success(out / "sft" / "model", n, first))
    text = write_planner_results(out)
    print(text, file=sys.stderr)
    return 0


def write_planner_results(out: Path) -> str:
    """results.md / results.json of the planner experiment."""
    stages = {n: json.loads((out / f"{n}.json").read_text()) for n in
              ("data", "data_heldout", "sft", "eval", "downstream_teacher", "downstream_learned")
              if (out / f"{n}.json").is_file()}
    e, t, l = stages.get("eval", {}), stages.get("downstream_teacher", {}), stages.get("downstream_learned", {})
    lines = ["| planner | valid format | step accuracy vs teacher | plans fully right | task success (sim loop) |",
             "|---|---|---|---|---|",
             f"| teacher (privileged) | 1.00 | 1.00 | 1.00 | {t.get('success_rate', float('nan')):.2f} |",
             f"| tiny VLM after SFT | {e.get('format_rate', float('nan')):.2f} | "
             f"{e.get('step_accuracy', float('nan')):.2f} | {e.get('plans_fully_right', float('nan')):.2f} | "
             f"{l.get('success_rate', float('nan')):.2f} |", "",
             f"Held-out rows: {e.get('rows')} (episodes from seed {stages.get('data_heldout', {}).get('eval_seed')}); "
             f"loop: {t.get('episodes')} episodes from seed {t.get('seed')}, fault rate {t.get('fault_rate')}, "
             f"perception critic. SFT {stages.get('sft', {}).get('steps')} steps in "
             f"{stages.get('sft', {}).get('seconds')} s. Total "
             f"{sum(s.get('seconds', 0) for s in stages.values()) / 60:.1f} min."]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(stages, indent=2, default=str))
    return text


if __name__ == "__main__":
    sys.exit(main())

"""The CPU critic experiment end to end, resumable stage by stage (scripts/reproduce_critic_cpu.sh).

    python -m interleave_robot.training.reproduce --out runs/critic_cpu --eval-seed 7 --downstream-seed 20000

Stages (each skipped when its <out>/<stage>.json exists): training data (critic-rl, --seed) ->
held-out data (episodes from --eval-seed, checked disjoint from the training episodes) -> tiny
model built from config -> SFT -> eval(SFT) -> GRPO from the SFT checkpoint -> eval(GRPO) ->
task success in the sim loop at fault rate 0.3 with no critic, the perception critic, the
critic after SFT and after GRPO (episodes from --downstream-seed) -> results.json + results.md
(one table: stage, wall time, accuracy, AUC, downstream success).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import yaml

from interleave_robot.errors import ConfigError
from interleave_robot.training.builders import BuildConfig, build_dataset
from interleave_robot.training.downstream import task_success
from interleave_robot.training.evaluate import evaluate_critic
from interleave_robot.training.formatting import corpus_for_tokenizer, load_split
from interleave_robot.training.grpo import run_grpo
from interleave_robot.training.modeling import ensure_checkpoint
from interleave_robot.training.recipes import load_recipe
from interleave_robot.training.results import write_results
from interleave_robot.training.rewards import RewardConfig
from interleave_robot.training.sft import run_sft, write_agent_file
os.environ.setdefault("MUJOCO_GL", "egl")


def _stage(out: Path, name: str, fn):
    """Run fn() unless <out>/<name>.json exists; record its result and wall time."""
    path = out / f"{name}.json"
    if path.is_file():
        print(f"[{name}] done already ({path})", file=sys.stderr)
        return json.loads(path.read_text())
    print(f"[{name}] ...", file=sys.stderr, flush=True)
    start = time.time()
    result = fn()
    result = {"seconds": round(time.time() - start, 1), **result}
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"[{name}] {result['seconds']} s", file=sys.stderr, flush=True)
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/critic_cpu")
    p.add_argument("--episodes", type=int, default=1000, help="simulator episodes for the training data")
    p.add_argument("--attempts-per-step", type=int, default=2)
    p.add_argument("--seed", type=int, default=1, help="seed of the training episodes (and of training)")
    p.add_argument("--eval-seed", type=int, default=7, help="seed of the held-out episodes (never trained on)")
    p.add_argument("--eval-episodes", type=int, default=60)
    p.add_argument("--realism", type=float, default=1.0,
                   help="editor effects on the generated images of both datasets (the benchmark's default)")
    p.add_argument("--subtle-fraction", type=float, default=0.5, help="share of faults in a subtle form (as the benchmark)")
    p.add_argument("--downstream-seed", type=int, default=20_000,
                   help="first seed of the closed-loop episodes (episode i has seed downstream_seed + i)")
    p.add_argument("--downstream-episodes", type=int, default=20)
    p.add_argument("--workers", type=int, default=1, help="processes for data building and rewards")
    p.add_argument("--sft-config", default="configs/critic_sft_cpu.yaml")
    p.add_argument("--grpo-config", default="configs/critic_grpo_cpu.yaml")
    p.add_argument("--sft-steps", type=int, default=None)
    p.add_argument("--grpo-steps", type=int, default=None)
    p.add_argument("--eval-rows", type=int, default=200)
    p.add_argument("--reward-rows", type=int, default=32, help="held-out rows scored with every reward term")
    return p


def check_disjoint(train_dir: Path, eval_dir: Path) -> int:
    """ConfigError if any held-out episode seed is also a training episode seed; returns the overlap (0)."""
    train = set(load_split(train_dir, "train")["episode_seed"]) | set(load_split(train_dir, "test")["episode_seed"])
    held = set(load_split(eval_dir, "test")["episode_seed"])
    overlap = train & held
    if overlap:
        raise ConfigError(f"held-out episodes overlap the training episodes ({len(overlap)} seeds): "
                          "choose another --eval-seed")
    return len(overlap)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data, held = out / "data" / "critic-rl", out / "data" / "heldout"
    sft_over = {"data": str(data), "output_dir": str(out / "sft"), "seed": args.seed,
                "model": {**_yaml(args.sft_config)["model"], "path": str(out / "init")}}
    if args.sft_steps:
        sft_over["max_steps"] = args.sft_steps
    grpo_over = {"data": str(data), "output_dir": str(out / "grpo"), "seed": args.seed,
                 "model": {**_yaml(args.grpo_config)["model"], "path": str(out / "sft" / "model")}}
    if args.grpo_steps:
        grpo_over["max_steps"] = args.grpo_steps
    sft_recipe = load_recipe(args.sft_config, "sft", sft_over)
    grpo_recipe = load_recipe(args.grpo_config, "grpo", {**grpo_over, "rewards": {
        **_yaml(args.grpo_config).get("rewards", {}), "workers": args.workers}})
    rewards = RewardConfig(**{**vars(grpo_recipe.rewards), "log_path": "", "balance_classes": False})

    images = {"realism": args.realism, "subtle_fraction": args.subtle_fraction}
    _stage(out, "data", lambda: {"dir": str(build_dataset(BuildConfig(
        kind="critic-rl", episodes=args.episodes, seed=args.seed, out=str(data), workers=args.workers,
        attempts_per_step=args.attempts_per_step, test_fraction=0.05, shard_episodes=50, **images)))})
    _stage(out, "data_heldout", lambda: {"dir": str(build_dataset(BuildConfig(
        kind="critic-rl", episodes=args.eval_episodes, seed=args.eval_seed, out=str(held), workers=args.workers,
        attempts_per_step=args.attempts_per_step, test_fraction=1.0, shard_episodes=50, **images))),
        "eval_seed": args.eval_seed, "overlap_with_training": check_disjoint(data, held)})

    def init():
        train = load_split(data, "train")
        directory = ensure_checkpoint(sft_recipe.model, corpus_for_tokenizer(train, sft_recipe.prompts, "critic"))
        write_agent_file(directory, sft_recipe)
        return {"model_dir": str(directory)}

    _stage(out, "init", init)

    def evaluate(model_dir):
        result = evaluate_critic(model_dir, held, "test", args.eval_rows)
        if args.reward_rows:
            result["reward_terms"] = evaluate_critic(model_dir, held, "test", args.reward_rows, reward_config=rewards,
                                                     progress=False)["reward_terms"]
        return result

    n, first = args.downstream_episodes, args.downstream_seed
    _stage(out, "sft", lambda: _brief(run_sft(sft_recipe)))
    _stage(out, "eval_sft", lambda: evaluate(out / "sft" / "model"))
    _stage(out, "downstream_none", lambda: task_success("none", n, first))
    _stage(out, "downstream_perception", lambda: task_success("perception", n, first))
    _stage(out, "downstream_sft", lambda: task_success("vlm", n, first, model_dir=str(out / "sft" / "model")))
    _stage(out, "grpo", lambda: _brief(run_grpo(grpo_recipe)))
    _stage(out, "eval_grpo", lambda: evaluate(out / "grpo" / "model"))
    _stage(out, "downstream_grpo", lambda: task_success("vlm", n, first, model_dir=str(out / "grpo" / "model")))
    print(write_results(out), file=sys.stderr)
    return 0


def _yaml(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _brief(metrics: dict) -> dict:
    """Training metrics without the full log history (kept in the run's own metrics.json)."""
    return {k: v for k, v in metrics.items() if k not in ("log_history", "recipe")}


if __name__ == "__main__":
    sys.exit(main())

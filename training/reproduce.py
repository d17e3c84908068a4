"""The CPU critic experiment end to end, resumable stage by stage (scripts/reproduce_critic_cpu.sh).

    python -m interleave_robot.training.reproduce --out runs/critic_cpu

Stages (each skipped when its output exists): critic-rl data -> probes -> tiny model at init
-> eval(init) -> SFT -> eval(SFT) -> GRPO -> eval(GRPO) -> downstream task success with no
critic, the perception critic and the trained critic -> results.json + results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")


def _stage(out: Path, name: str, fn):
    """Run fn() unless <out>/<name>.json exists; record its result and wall time."""
    path = out / f"{name}.json"
    if path.is_file():
        print(f"[{name}] done already ({path})", file=sys.stderr)
        return json.loads(path.read_text())
    print(f"[{name}] ...", file=sys.stderr)
    start = time.time()
    result = fn()
    result = {"seconds": round(time.time() - start, 1), **result}
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"[{name}] {result['seconds']} s", file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/critic_cpu")
    parser.add_argument("--episodes", type=int, default=240, help="simulator episodes for critic-rl data")
    parser.add_argument("--attempts-per-step", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sft-config", default="configs/critic_sft_cpu.yaml")
    parser.add_argument("--grpo-config", default="configs/critic_grpo_cpu.yaml")
    parser.add_argument("--sft-steps", type=int, default=None)
    parser.add_argument("--grpo-steps", type=int, default=None)
    parser.add_argument("--eval-rows", type=int, default=200)
    parser.add_argument("--reward-rows", type=int, default=64, help="held-out rows scored with every reward term")
    parser.add_argument("--downstream-episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from interleave_robot.training.builders import BuildConfig, build_dataset
    from interleave_robot.training.evaluate import evaluate_critic
    from interleave_robot.training.formatting import corpus_for_tokenizer, load_split
    from interleave_robot.training.modeling import ensure_checkpoint
    from interleave_robot.training.probe import run_probes
    from interleave_robot.training.recipes import load_recipe
    from interleave_robot.training.rewards import RewardConfig
    from interleave_robot.training.sft import write_agent_file

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data" / "critic-rl"
    sft_over = {"data": str(data), "output_dir": str(out / "sft"), "seed": args.seed,
                "model": {**_yaml(args.sft_config)["model"], "path": str(out / "init")}}
    if args.sft_steps:
        sft_over["max_steps"] = args.sft_steps
    grpo_over = {"data": str(data), "output_dir": str(out / "grpo"), "seed": args.seed,
                 "model": {**_yaml(args.grpo_config)["model"], "path": str(out / "sft" / "model")}}
    if args.grpo_steps:
        grpo_over["max_steps"] = args.grpo_steps
    sft_recipe = load_recipe(args.sft_config, "sft", sft_over)
    grpo_recipe = load_recipe(args.grpo_config, "grpo", grpo_over)
    rewards = RewardConfig(**{**vars(grpo_recipe.rewards), "workers": args.workers, "log_path": ""})

    _stage(out, "data", lambda: {"dir": str(build_dataset(BuildConfig(
        kind="critic-rl", episodes=args.episodes, seed=args.seed, out=str(data), workers=args.workers,
        attempts_per_step=args.attempts_per_step)))})
    _stage(out, "probes", lambda: run_probes(data))

    def init():
        train = load_split(data, "train")
        directory = ensure_checkpoint(sft_recipe.model, corpus_for_tokenizer(train, sft_recipe.prompts, "critic"))
        write_agent_file(directory, sft_recipe)
        return {"model_dir": str(directory)}

    _stage(out, "init", init)

    def evaluate(model_dir):
        result = evaluate_critic(model_dir, data, "test", args.eval_rows)
        rl_rows = min(args.reward_rows, args.eval_rows)
        result["reward_terms"] = evaluate_critic(model_dir, data, "test", rl_rows, reward_config=rewards,
                                                 progress=False)["reward_terms"]
        return result

    _stage(out, "eval_init", lambda: evaluate(out / "init"))
    from interleave_robot.training.sft import run_sft

    _stage(out, "sft", lambda: _brief(run_sft(sft_recipe)))
    _stage(out, "eval_sft", lambda: evaluate(out / "sft" / "model"))
    _stage(out, "probe_vision_sft", lambda: run_probes(data, out / "sft" / "model"))
    from interleave_robot.training.grpo import run_grpo

    _stage(out, "grpo", lambda: _brief(run_grpo(grpo_recipe)))
    _stage(out, "eval_grpo", lambda: evaluate(out / "grpo" / "model"))
    from interleave_robot.training.downstream import task_success

    n = args.downstream_episodes
    _stage(out, "downstream_none", lambda: task_success("none", n, 10_000 + args.seed))
    _stage(out, "downstream_perception", lambda: task_success("perception", n, 10_000 + args.seed))
    _stage(out, "downstream_grpo", lambda: task_success("vlm", n, 10_000 + args.seed,
                                                        model_dir=str(out / "grpo" / "model")))
    from interleave_robot.training.results import write_results

    print(write_results(out), file=sys.stderr)
    return 0


def _yaml(path: str) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def _brief(metrics: dict) -> dict:
    """Training metrics without the full log history (kept in the run's own metrics.json)."""
    return {k: v for k, v in metrics.items() if k not in ("log_history", "recipe")}


if __name__ == "__main__":
    sys.exit(main())

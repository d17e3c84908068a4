"""GRPO against SFT, from the same SFT checkpoint, over several GRPO seeds (with intervals).

    python -m interleave_robot.training.compare_grpo --out runs/critic_cpu --seeds 1 2 3

Reads a finished reproduce.py run directory (its data, held-out data and sft/model), runs the
GRPO recipe once per seed into <out>/grpo_seed<S>, evaluates each on the held-out rows and
writes compare.json / compare.md: SFT's accuracy with a bootstrap interval over rows, GRPO's
mean over seeds with a t interval, and each seed's numbers (optionally downstream too).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from interleave_robot.training.downstream import task_success
from interleave_robot.training.evaluate import evaluate_critic
from interleave_robot.training.grpo import run_grpo
from interleave_robot.training.recipes import load_recipe
from interleave_robot.training.reproduce import _brief, _stage, _yaml

T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}  # t(0.975, df)


def mean_interval(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% t interval); half-width nan for one value."""
    n = len(values)
    if not n:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T95.get(n - 1, 1.96) * sd / math.sqrt(n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/critic_cpu")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--grpo-config", default="configs/critic_grpo_cpu.yaml")
    p.add_argument("--grpo-steps", type=int, default=None)
    p.add_argument("--eval-rows", type=int, default=200)
    p.add_argument("--downstream-episodes", type=int, default=0)
    p.add_argument("--downstream-seed", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)

    out = Path(args.out)
    data, held, sft = out / "data" / "critic-rl", out / "data" / "heldout", out / "sft" / "model"
    runs = {}
    for seed in args.seeds:
        run = out / f"grpo_seed{seed}"
        run.mkdir(parents=True, exist_ok=True)
        over = {"data": str(data), "output_dir": str(run), "seed": seed,
                "model": {**_yaml(args.grpo_config)["model"], "path": str(sft)},
                "rewards": {**_yaml(args.grpo_config).get("rewards", {}), "workers": args.workers}}
        if args.grpo_steps:
            over["max_steps"] = args.grpo_steps
        recipe = load_recipe(args.grpo_config, "grpo", over)
        train = _stage(run, "grpo", lambda: _brief(run_grpo(recipe)))
        ev = _stage(run, "eval", lambda: evaluate_critic(run / "model", held, "test", args.eval_rows))
        entry = {"accuracy": ev["overall"]["accuracy"], "auc": ev.get("auc_teacher_forced"),
                 "predicted_failed_rate": ev["predicted_failed_rate"], "reward_first": train.get("reward_first"),
                 "reward_last": train.get("reward_last")}
        if args.downstream_episodes:
            d = _stage(run, "downstream", lambda: task_success("vlm", args.downstream_episodes, args.downstream_seed,
                                                               model_dir=str(run / "model")))
            entry["downstream"] = d["success_rate"]
        runs[seed] = entry
    sft_eval = evaluate_critic(sft, held, "test", args.eval_rows, progress=False)
    acc = [r["accuracy"] for r in runs.values()]
    mean, half = mean_interval(acc)
    result = {"sft": {"accuracy": sft_eval["overall"]["accuracy"], "auc": sft_eval.get("auc_teacher_forced"),
                      "accuracy_interval": sft_eval.get("accuracy_interval")},
              "grpo_seeds": runs, "grpo_accuracy_mean": mean, "grpo_accuracy_ci95_half": half,
              "grpo_auc_mean_ci95": mean_interval([r["auc"] for r in runs.values() if r["auc"] is not None])}
    (out / "compare.json").write_text(json.dumps(result, indent=2, default=str))
    lines = ["| model | held-out accuracy | teacher-forced AUC | answers 'failed' |", "|---|---|---|---|",
             f"| SFT (the checkpoint GRPO starts from) | {result['sft']['accuracy']:.3f} "
             f"{_interval(result['sft']['accuracy_interval'])} | {_num(result['sft']['auc'])} | "
             f"{sft_eval['predicted_failed_rate']:.2f} |"]
    for seed, r in runs.items():
        lines.append(f"| SFT + GRPO, seed {seed} | {r['accuracy']:.3f} | {_num(r['auc'])} | "
                     f"{r['predicted_failed_rate']:.2f} |")
    lines.append(f"| SFT + GRPO, mean of {len(runs)} seeds | {mean:.3f} +- {half:.3f} (95% t) | "
                 f"{_num(result['grpo_auc_mean_ci95'][0])} +- {_num(result['grpo_auc_mean_ci95'][1])} | - |")
    text = "\n".join(lines) + "\n"
    (out / "compare.md").write_text(text)
    print(text)
    return 0


def _num(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _interval(pair) -> str:
    return "" if not pair else f"[{pair[0]:.3f}, {pair[1]:.3f}]"


if __name__ == "__main__":
    sys.exit(main())

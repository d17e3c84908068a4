"""`interleave-robot eval critic --model DIR --data DIR`: held-out critic metrics, written to eval.json."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from interleave_robot.training.builders import BuildConfig, build_dataset
from interleave_robot.training.downstream import task_success
from interleave_robot.training.evaluate import evaluate_critic
from interleave_robot.training.reproduce import check_disjoint
from interleave_robot.training.rewards import RewardConfig

HELP = "evaluate a trained critic on a held-out split (accuracy, precision/recall per fault, AUC; eval.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    critic = sub.add_parser("critic", help="evaluate a critic checkpoint")
    critic.add_argument("--model", required=True, help="checkpoint directory (e.g. runs/critic-sft/model)")
    critic.add_argument("--data", required=True,
                        help="dataset directory from `data build` (critic-sft or critic-rl); with --heldout-seed, "
                             "where the held-out data is built (or reused)")
    critic.add_argument("--heldout-seed", type=int, default=None,
                        help="build the evaluation data from this seed first (all its episodes held out)")
    critic.add_argument("--heldout-episodes", type=int, default=60, help="episodes of the held-out build")
    critic.add_argument("--realism", type=float, default=0.0, help="editor realism of the held-out build's images")
    critic.add_argument("--train-data", default=None,
                        help="training dataset to check the held-out episodes against (none may overlap)")
    critic.add_argument("--split", default="test")
    critic.add_argument("--max-rows", type=int, default=None)
    critic.add_argument("--rewards", action="store_true", help="also mean reward terms (needs critic-rl data)")
    critic.add_argument("--no-task-term", action="store_true", help="skip the executor-based task term")
    critic.add_argument("--episodes", type=int, default=0,
                        help="also run N simulator episodes with this critic in the loop (task success)")
    critic.add_argument("--seed", type=int, default=0, help="first seed of the closed-loop episodes (--episodes)")
    critic.add_argument("--out", default=None, help="eval.json path (default: <model>/eval.json)")


def run(args: argparse.Namespace) -> int:
    reward_config = RewardConfig(use_task=not args.no_task_term, seed=args.seed) if args.rewards else None
    split = args.split
    if args.heldout_seed is not None:
        build_dataset(BuildConfig(kind="critic-rl", episodes=args.heldout_episodes, seed=args.heldout_seed,
                                  out=args.data, attempts_per_step=2, test_fraction=1.0, realism=args.realism))
        split = "test"
    if args.train_data:
        check_disjoint(Path(args.train_data), Path(args.data))
    result = evaluate_critic(args.model, args.data, split, args.max_rows, reward_config=reward_config)
    if args.episodes:
        result["downstream"] = task_success("vlm", args.episodes, args.seed, model_dir=args.model)
    out = Path(args.out) if args.out else Path(args.model) / "eval.json"
    out.write_text(json.dumps(result, indent=2))
    o = result["overall"]
    print(f"accuracy {o['accuracy']:.3f}  precision {o['precision']:.3f}  recall {o['recall']:.3f}  "
          f"format {result['format_rate']:.2f}  AUC {result.get('auc_teacher_forced')}  -> {out}")
    return 0

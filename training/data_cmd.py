"""`interleave-robot data build`: simulator episodes -> a training dataset (HF datasets on disk)."""
from __future__ import annotations

import argparse

from interleave_robot.training.builders import FAMILIES, KINDS, BuildConfig, build_dataset

HELP = "build planner/critic training data from the simulator (save_to_disk, resumable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build (or resume) a dataset")
    build.add_argument("--kind", required=True, choices=KINDS)
    build.add_argument("--episodes", type=int, required=True, help="simulator episodes (families take turns)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--out", required=True, help="dataset directory (re-running resumes)")
    build.add_argument("--workers", type=int, default=1, help="worker processes")
    build.add_argument("--families", default=",".join(FAMILIES), help="comma-separated task families")
    build.add_argument("--fault-rate", type=float, default=0.5, help="simulated generator fault rate (critic rows)")
    build.add_argument("--attempts-per-step", type=int, default=1, help="generations (rows) per plan step")
    build.add_argument("--test-fraction", type=float, default=0.2, help="share of episodes held out")
    build.add_argument("--shard-episodes", type=int, default=8, help="episodes per resumable shard")


def run(args: argparse.Namespace) -> int:
    config = BuildConfig(kind=args.kind, episodes=args.episodes, seed=args.seed, out=args.out, workers=args.workers,
                         families=[f.strip() for f in args.families.split(",") if f.strip()],
                         fault_rate=args.fault_rate, attempts_per_step=args.attempts_per_step,
                         test_fraction=args.test_fraction, shard_episodes=args.shard_episodes)
    out = build_dataset(config)
    print(f"wrote {out} (data card: {out / 'README.md'})")
    return 0

"""`interleave-robot train sft|grpo --config FILE`: run a training recipe, write metrics.json."""
from __future__ import annotations

import argparse

import yaml

from interleave_robot.config import parse_key_values
from interleave_robot.training.grpo import run_grpo
from interleave_robot.training.recipes import load_recipe
from interleave_robot.training.sft import run_sft

HELP = "train the critic (or planner) with a YAML recipe: sft or grpo (writes metrics.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", choices=("sft", "grpo"))
    parser.add_argument("--config", required=True, help="YAML recipe (see configs/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a top-level recipe key (repeatable), e.g. --set max_steps=10")


def run(args: argparse.Namespace) -> int:
    overrides = {k: yaml.safe_load(v) for k, v in parse_key_values(args.set).items()}
    recipe = load_recipe(args.config, expect=args.method, overrides=overrides)
    if args.method == "sft":
        train = run_sft
    else:
        train = run_grpo
    metrics = train(recipe)
    print(f"{args.method}: {metrics['steps']} steps in {metrics['seconds']} s; model {metrics['model_dir']}; "
          f"metrics {recipe.output_dir}/metrics.json")
    return 0

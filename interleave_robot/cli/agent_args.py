"""The agent options every command that runs the loop shares: `--planner NAME --planner-opt K=V
--generator NAME --generator-opt K=V --critic NAME|none --critic-opt K=V`.

`run`, `demo`, `bench` and `ros-demo` define them here, once. A NAME is a registered backend,
an entry-point plugin or `module.path:ClassName` (registry.py); options are the backend's
config fields, repeatable, coerced to their types when the backend is built.
"""
from __future__ import annotations

import argparse

from interleave_robot.config import parse_key_values
from interleave_robot.registry import CRITICS, GENERATORS, PLANNERS

AGENTS = (("planner", PLANNERS), ("generator", GENERATORS), ("critic", CRITICS))
NO_CRITIC = "none"


def add_agent_arguments(parser: argparse.ArgumentParser, defaults: dict[str, str] | None = None,
                        critic_list: bool = False) -> None:
    """Add the six agent options; `defaults` maps kind -> default backend (None: no default).
    `critic_list`: --critic takes a comma-separated list (bench sweeps it)."""
    defaults = defaults or {}
    for kind, registry in AGENTS:
        default = defaults.get(kind)
        names = ", ".join(registry.names())
        text = f"{kind} backend: {names}, or module.path:ClassName"
        if kind == "critic":
            text += f", or '{NO_CRITIC}' (every first image is accepted)"
            if critic_list:
                text = "comma-separated critic backends, swept like the fault rates: " + text
        if default is not None:
            text += f" (default {default})"
        parser.add_argument(f"--{kind}", default=default, help=text)
        parser.add_argument(f"--{kind}-opt", action="append", default=[], metavar="KEY=VALUE",
                            help=f"a {kind} backend option (repeatable)")


def agent_options(args: argparse.Namespace, kind: str) -> dict[str, str]:
    """The --KIND-opt options as a dict (ConfigError for an item without '=')."""
    return parse_key_values(vars(args)[f"{kind}_opt"])

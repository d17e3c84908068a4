"""One registry per agent kind: a backend name -> the class that implements it.

Entries are listed here, explicitly, as "module:Class" strings, so that listing or choosing a
backend imports nothing heavy; the module is imported only when the backend is built. Adding
a backend ("any image generator") is one class plus one line here: no if-chains anywhere.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from interleave_robot.config import build_config
from interleave_robot.errors import ConfigError


@dataclass
class Registry:
    kind: str  # "planner", "generator", "critic", "vlm"
    entries: dict[str, str] = field(default_factory=dict)

    def register(self, name: str, target: str) -> None:
        if name in self.entries:
            raise ConfigError(f"{self.kind} backend {name!r} is already registered")
        self.entries[name] = target

    def names(self) -> list[str]:
        return sorted(self.entries)

    def resolve(self, name: str) -> type:
        if name not in self.entries:
            raise ConfigError(f"unknown {self.kind} backend {name!r}; choose one of: {', '.join(self.names())}")
        module_name, _, attr = self.entries[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"{self.kind} backend {name!r} needs a missing package: {exc}") from None
        return getattr(module, attr)

    def config_class(self, name: str) -> type:
        return self.resolve(name).config_class

    def build(self, name: str, options: dict[str, Any] | None = None):
        """Build backend `name` from options (a dict, or a ready config instance)."""
        cls = self.resolve(name)
        config = options if isinstance(options, cls.config_class) else build_config(cls.config_class, options)
        return cls(config)


PLANNERS = Registry("planner")
GENERATORS = Registry("generator")
CRITICS = Registry("critic")
VLM_BACKENDS = Registry("vlm")

# --- VLM chat backends (planner/critic models) ---
VLM_BACKENDS.register("transformers", "interleave_robot.backends.vlm_transformers:TransformersVLM")
VLM_BACKENDS.register("openai", "interleave_robot.backends.vlm_openai:OpenAIVLM")

# --- planners ---
PLANNERS.register("vlm", "interleave_robot.backends.vlm_agents:VLMPlanner")
PLANNERS.register("static", "interleave_robot.backends.scripted:StaticPlanner")  # fixed plan, dry runs
PLANNERS.register("teacher", "interleave_robot.sim_envs.teacher:TeacherPlanner")  # privileged, sim only

# --- generators ---
GENERATORS.register("diffusers", "interleave_robot.backends.generator_diffusers:DiffusersGenerator")
GENERATORS.register("http", "interleave_robot.backends.generator_http:HTTPGenerator")
GENERATORS.register("echo", "interleave_robot.backends.scripted:EchoGenerator")  # dry runs, benchmarks
GENERATORS.register("sim", "interleave_robot.sim_envs.sim_generator:SimulatedGenerator")

# --- critics ---
CRITICS.register("vlm", "interleave_robot.backends.vlm_agents:VLMCritic")
CRITICS.register("always", "interleave_robot.backends.scripted:AlwaysCritic")  # fixed rule, dry runs
CRITICS.register("perception", "interleave_robot.sim_envs.perception_critic:PerceptionCritic")

REGISTRIES = {r.kind: r for r in (PLANNERS, GENERATORS, CRITICS, VLM_BACKENDS)}

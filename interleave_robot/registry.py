"""One registry per agent kind: a backend name -> the class that implements it.

A backend name is any of:

- a name listed here, explicitly, as a "module:Class" string, so that listing or choosing a
  backend imports nothing heavy; the module is imported only when the backend is built;
- a name an installed package adds through the entry-point group
  `interleave_robot.planners`, `interleave_robot.generators` or `interleave_robot.critics`
  (`[project.entry-points."interleave_robot.generators"] mygen = "my_pkg.gen:MyGenerator"`),
  the way Gymnasium and pytest take plugins; the built-in names win over a plugin's;
- `module.path:ClassName` of any importable class with a `config_class` dataclass and a
  constructor taking one instance of it (e.g. `--generator my_pkg.gen:MyGenerator`).

Adding a backend ("any image generator") is one class plus one line here, or no line at all:
no if-chains anywhere. Every failure to find or import a backend is a ConfigError naming it.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from dataclasses import dataclass, field
from typing import Any

from interleave_robot.config import build_config
from interleave_robot.errors import ConfigError
from interleave_robot.extras import describe_import_error, missing_extra

ENTRY_POINT_PREFIX = "interleave_robot."


@dataclass
class Registry:
    kind: str  # "planner", "generator", "critic", "vlm"
    entries: dict[str, str] = field(default_factory=dict)
    method: str | None = None  # the interface method a class must have ("generate" for generators)
    entry_point_group: str | None = None  # where installed packages add names

    def register(self, name: str, target: str) -> None:
        if name in self.entries:
            raise ConfigError(f"{self.kind} backend {name!r} is already registered")
        self.entries[name] = target

    def _plugins(self) -> dict[str, str]:
        """{name: "module:attr"} of the installed entry points of this kind (built-ins win)."""
        if self.entry_point_group is None:
            return {}
        found = {}
        for ep in importlib.metadata.entry_points(group=self.entry_point_group):
            if ep.name not in self.entries:
                found.setdefault(ep.name, ep.value)
        return found

    def names(self) -> list[str]:
        """Registered and plugin names (a `module:Class` needs no name)."""
        return sorted({*self.entries, *self._plugins()})

    def target(self, name: str) -> str:
        """The "module:Class" a name stands for; ConfigError for an unknown name."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{self.kind} backend must be a non-empty name, got {name!r}")
        if name in self.entries:
            return self.entries[name]
        plugins = self._plugins()
        if name in plugins:
            return plugins[name]
        if ":" in name:
            return name
        raise ConfigError(f"unknown {self.kind} backend {name!r}; choose one of: {', '.join(self.names())}, "
                          f"or give module.path:ClassName")

    def resolve(self, name: str) -> type:
        """The class behind `name`, imported; ConfigError naming it when it cannot be used."""
        target = self.target(name)
        module_name, _, attr = target.partition(":")
        what = f"{self.kind} backend {name!r}" + ("" if target == name else f" ({target})")
        if not module_name or not attr:
            raise ConfigError(f"{what}: expected module.path:ClassName")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f" ({describe_import_error(exc)})" if missing_extra(exc) else ""
            raise ConfigError(f"{what} cannot be imported: {exc}{hint}") from None
        except Exception as exc:  # a plugin module that breaks on import is the plugin's bug, named
            raise ConfigError(f"{what} failed on import: {type(exc).__name__}: {exc}") from None
        cls = module
        for part in attr.split("."):
            cls = getattr(cls, part, None)
            if cls is None:
                raise ConfigError(f"{what}: module {module_name!r} has no {attr!r}")
        self._check_interface(cls, what)
        return cls

    def _check_interface(self, cls: Any, what: str) -> None:
        if not isinstance(cls, type):
            raise ConfigError(f"{what} is not a class")
        config_class = getattr(cls, "config_class", None)
        if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
            raise ConfigError(f"{what} has no `config_class` dataclass (the agent interface needs one)")
        if self.method is not None and not callable(getattr(cls, self.method, None)):
            raise ConfigError(f"{what} has no {self.method}() method (not a {self.kind})")

    def config_class(self, name: str) -> type:
        return self.resolve(name).config_class

    def build(self, name: str, options: dict[str, Any] | None = None):
        """Build backend `name` from options (a dict, or a ready config instance)."""
        cls = self.resolve(name)
        config = options if isinstance(options, cls.config_class) else build_config(cls.config_class, options)
        return cls(config)


PLANNERS = Registry("planner", method="plan", entry_point_group=ENTRY_POINT_PREFIX + "planners")
GENERATORS = Registry("generator", method="generate", entry_point_group=ENTRY_POINT_PREFIX + "generators")
CRITICS = Registry("critic", method="critique", entry_point_group=ENTRY_POINT_PREFIX + "critics")
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

"""What a guidance node runs: its agents (local backends by registry name, or remote nodes)
and its options, as one config that ROS parameters, YAML files and the CLI all fill.

`mode` "all_in_one" builds planner/generator/critic in-process from the registries;
"split" talks to planner/generator/critic nodes over request/response topics (the
generator can then run on the GPU host). A mixed setup is one option per agent:
`remote_agents` lists which agents are remote in split mode (default: all three).
"""
from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields

from interleave_robot.config import build_config
from interleave_robot.errors import ConfigError
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.registry import CRITICS, GENERATORS, PLANNERS
from interleave_robot.ros_nodes.split_logic import RemoteAgentConfig, RemoteCritic, RemoteGenerator, RemotePlanner
from interleave_robot.ros_nodes.transport import Transport

MODES = ("all_in_one", "split")
_REMOTE = {"planner": RemotePlanner, "generator": RemoteGenerator, "critic": RemoteCritic}
_LOCAL = {"planner": PLANNERS, "generator": GENERATORS, "critic": CRITICS}


@dataclass
class AgentsConfig:
    """Backends (registry names + options) or remote peers, and the loop's options."""

    mode: str = "all_in_one"
    planner: str = "static"
    planner_options: dict = field(default_factory=dict)
    generator: str = "echo"
    generator_options: dict = field(default_factory=dict)
    critic: str = "always"  # "" = no critic (the no-critic baseline)
    critic_options: dict = field(default_factory=dict)
    pipeline: dict = field(default_factory=dict)  # PipelineConfig options
    remote_agents: list[str] = field(default_factory=lambda: ["planner", "generator", "critic"])
    remote_prefix: str = "/interleave"
    remote_timeout_s: float = 600.0
    remote_discovery_timeout_s: float = 10.0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"AgentsConfig.mode must be one of {MODES}, got {self.mode!r}")
        unknown = sorted(set(self.remote_agents) - set(_REMOTE))
        if unknown:
            raise ConfigError(f"AgentsConfig.remote_agents: unknown agent(s) {unknown}; known: {list(_REMOTE)}")
        if "loop" in self.pipeline:
            raise ConfigError("AgentsConfig.pipeline: set the loop with the node's `loop` parameter, not in pipeline")
        self.pipeline_config = build_config(PipelineConfig, self.pipeline)
        for role in ("planner", "generator", "critic"):
            name = self.__dict__[role]
            if self._remote(role) or (role == "critic" and not name):
                continue
            if name not in _LOCAL[role].names():
                raise ConfigError(f"unknown {role} backend {name!r}; choose one of: {', '.join(_LOCAL[role].names())}")

    def _remote(self, role: str) -> bool:
        return self.mode == "split" and role in self.remote_agents

    def build(self, transport: Transport, state_codec: str = "none") -> GuidancePipeline:
        """Load local backends (the slow part of a model node) and connect remote ones;
        `state_codec` says how simulator state crosses to remote agents (the node's option)."""
        remote = RemoteAgentConfig(prefix=self.remote_prefix, timeout_s=self.remote_timeout_s,
                                   discovery_timeout_s=self.remote_discovery_timeout_s, state_codec=state_codec)
        agents = {}
        for role in ("planner", "generator", "critic"):
            if self._remote(role):
                agents[role] = _REMOTE[role](transport, remote)
            elif role == "critic" and not self.critic:
                agents[role] = None
            else:
                agents[role] = _LOCAL[role].build(self.__dict__[role], self.__dict__[f"{role}_options"])
        return GuidancePipeline(agents["planner"], agents["generator"], agents["critic"], self.pipeline_config)


def close_pipeline(pipeline: GuidancePipeline) -> None:
    """Free the pipeline's backends (lifecycle cleanup)."""
    for agent in (pipeline.planner, pipeline.generator, pipeline.critic):
        if agent is not None:
            agent.close()


# --- parameters: dataclass fields <-> flat ROS parameters (dicts/lists as JSON strings) ---

def _default(f):
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def parameter_defaults(config_class: type) -> dict:
    """{name: default} for ROS declare_parameter: str/int/float/bool as is, others as JSON text."""
    return {f.name: (v if _scalar(v := _default(f)) else json.dumps(v)) for f in fields(config_class) if f.init}


def config_from_parameters(config_class: type, values: dict):
    """Build `config_class` from parameter values: the one place where parameter values are
    typed, for rclpy and DDS-direct alike. Mapping/list options take JSON text ('' = default)
    or a native list/mapping (a YAML list, `interleave-robot-node -p name:={...}`); numbers
    and booleans are coerced to the field's type by build_config (an int for a float is
    fine; text that is no number is a ConfigError naming the parameter)."""
    kinds = {f.name: _scalar(_default(f)) for f in fields(config_class) if f.init}
    decoded = {}
    for name, value in values.items():
        if not kinds.get(name, True) and isinstance(value, str):
            if not value.strip():
                continue  # '' = the default
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ConfigError(f"parameter {name}: not valid JSON: {exc}") from None
        decoded[name] = value
    return build_config(config_class, decoded)

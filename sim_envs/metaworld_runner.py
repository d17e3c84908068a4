"""Guided runs on Meta-World beside Meta-World's expert alone (see metaworld_adapter.py).

The guided run: the guidance pipeline (phase planner -> phase generator, no critic: the
generator replays the expert, so it has no faults to catch) draws a subgoal image per phase;
in the real env the expert acts and a phase ends when the camera frame matches the phase's
subgoal image (mean absolute pixel difference under a threshold) or its step budget runs out.
Success is Meta-World's convention: `info["success"]` at any step. The expert-alone baseline
runs the same expert, with the same action noise, for the episode's full length.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from interleave_robot.errors import ConfigError
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.sim_envs.metaworld_adapter import (MetaWorldEnv, MetaWorldGeneratorConfig,
                                                         MetaWorldPhaseGenerator, MetaWorldPhasePlanner,
                                                         MetaWorldSnapshot)
from interleave_robot.types import Observation, Task


@dataclass
class MetaWorldRunConfig:
    """A guided-vs-expert comparison: action noise applies to both runs alike."""

    image_size: int = 128
    action_noise: float = 0.0  # std of Gaussian noise added to the expert's actions (both runs)
    match_threshold: float = 1.0  # mean |pixel difference| (0-255) for a frame to match a subgoal
    check_every: int = 1  # compare the frame with the subgoal every N env steps (rendering costs)
    phase_budget: int = 200  # env steps allowed per phase

    def __post_init__(self):
        if not self.action_noise >= 0:
            raise ConfigError(f"MetaWorldRunConfig.action_noise must be >= 0, got {self.action_noise}")
        if not self.match_threshold > 0:
            raise ConfigError(f"MetaWorldRunConfig.match_threshold must be > 0, got {self.match_threshold}")
        for name, value in (("check_every", self.check_every), ("phase_budget", self.phase_budget)):
            if value < 1:
                raise ConfigError(f"MetaWorldRunConfig.{name} must be >= 1, got {value}")


@dataclass
class MetaWorldEpisodeResult:
    task: str
    episode: int
    expert_success: bool
    expert_steps: int
    guided_success: bool
    guided_steps: int
    phases: int
    phases_matched: int  # phases whose subgoal image the real frame matched
    generator_calls: int
    phase_errors: list[float] = field(default_factory=list)  # best frame/subgoal difference per phase
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(vars(self))


class MetaWorldRunner:
    """Runs expert-alone and guided episodes, reusing one env per task and one generator."""

    def __init__(self, config: MetaWorldRunConfig | None = None):
        self.config = config or MetaWorldRunConfig()
        self._envs: dict[str, MetaWorldEnv] = {}
        self.generator = MetaWorldPhaseGenerator(MetaWorldGeneratorConfig(self.config.image_size))

    def _env(self, name: str) -> MetaWorldEnv:
        if name not in self._envs:
            self._envs[name] = MetaWorldEnv(name, self.config.image_size)
        return self._envs[name]

    def expert_alone(self, name: str, episode: int) -> tuple[bool, int]:
        """Meta-World's expert for the whole episode (stops at the first success)."""
        env = self._env(name)
        env.reset(episode)
        rng = np.random.default_rng(episode)
        while not env.success and env.expert_step(rng, self.config.action_noise):
            pass
        return env.success, env.steps

    def run(self, name: str, episode: int) -> MetaWorldEpisodeResult:
        t0 = time.perf_counter()
        expert_success, expert_steps = self.expert_alone(name, episode)
        env = self._env(name)
        env.reset(episode)
        observation = Observation(image=env.render(), state=MetaWorldSnapshot(name, episode, 0))
        task = Task(text=f"Meta-World {name}", family="metaworld", spec={"metaworld_task": name})
        pipeline = GuidancePipeline(MetaWorldPhasePlanner(), self.generator, None,
                                    PipelineConfig(use_critic=False, seed=episode))
        trajectory = pipeline.run(task, observation)
        rng = np.random.default_rng(episode)
        matched, errors = 0, []
        for step in trajectory.steps:
            image = step.accepted.image if step.accepted is not None else None
            if image is None:
                break
            ok, best = self._follow(env, image, rng)
            matched += ok
            errors.append(round(best, 2))
        # The last phase ends at success; let the expert finish if the frame never matched it.
        while not env.success and env.expert_step(rng, self.config.action_noise):
            pass
        return MetaWorldEpisodeResult(
            name, episode, expert_success, expert_steps, env.success, env.steps, len(trajectory.steps),
            matched, trajectory.generator_calls, errors, time.perf_counter() - t0)

    def _follow(self, env: MetaWorldEnv, subgoal: np.ndarray, rng) -> tuple[bool, float]:
        """The expert acts until the camera frame matches the subgoal image (or the budget ends)."""
        c = self.config
        best = float("inf")
        for k in range(1, c.phase_budget + 1):
            if not env.expert_step(rng, c.action_noise):
                break
            if k % c.check_every == 0:
                best = min(best, float(np.abs(env.render().astype(np.int16) - subgoal).mean()))
                if best < c.match_threshold:
                    return True, best
        return False, best

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
        self.generator.close()

"""One guidance episode in simulation: the measurement behind `demo`, `bench`, ROS and training eval.

reset env -> GuidancePipeline(teacher, simulated generator, perception critic | None) ->
the executor follows each accepted subgoal image, closed loop, in order -> task predicate.
The executor sees only images, the camera and the instruction: never the goal.

`EpisodeRunner` keeps one env per family and one generator (GL contexts are reused across
episodes); `run_episode` is the one-shot form.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from interleave_robot.errors import ConfigError
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.types import Trajectory

from interleave_robot.sim_envs.faults import NO_FAULT
from interleave_robot.sim_envs.env_cache import cached_env
from interleave_robot.sim_envs.tasks import FAMILIES, MAX_STEPS


@dataclass
class EpisodeConfig:
    family: str = "stack"
    seed: int = 0
    fault_rate: float = 0.3
    use_critic: bool = True
    max_attempts_per_step: int = 3
    steps: int | None = None  # task steps (None: the family's random range)
    image_size: int = 128
    prompt_style: str = "natural"  # the teacher's prompts: "natural" (vaguer) or "explicit"
    vagueness_gain: float = 1.0

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ConfigError(f"unknown task family {self.family!r}; known: {', '.join(FAMILIES)}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ConfigError(f"EpisodeConfig.fault_rate must be in [0, 1], got {self.fault_rate}")
        if self.seed < 0:
            raise ConfigError(f"EpisodeConfig.seed must be >= 0, got {self.seed}")
        if self.steps is not None and not 1 <= self.steps <= MAX_STEPS[self.family]:
            raise ConfigError(f"EpisodeConfig.steps for {self.family} must be in 1..{MAX_STEPS[self.family]}, "
                              f"got {self.steps}")
        if self.max_attempts_per_step < 1:
            raise ConfigError(f"EpisodeConfig.max_attempts_per_step must be >= 1, got {self.max_attempts_per_step}")


@dataclass
class EpisodeResult:
    family: str
    seed: int
    task: str
    success: bool
    steps: int  # plan steps
    steps_executed: int
    generator_calls: int
    critic_rejections: int
    accepted_faults: list[str]  # ground-truth fault of each accepted image ("none" when right)
    attempt_faults: list[str]  # ground-truth fault of every generated image
    execution: list[dict]  # the executor's result per step
    failure: str | None  # why the episode failed, when it did
    seconds: float
    env_steps: int
    trajectory: Trajectory | None = field(default=None, repr=False)
    final_image: np.ndarray | None = field(default=None, repr=False)
    initial_image: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready (trajectory and images left out)."""
        skip = {"trajectory", "final_image", "initial_image"}
        return {k: v for k, v in vars(self).items() if k not in skip}


class EpisodeRunner:
    """Runs episodes, reusing envs (one per family) and the generator between them."""

    def __init__(self, image_size: int = 128):
        self.image_size = image_size
        self._generator = None

    def _env(self, family: str):
        return cached_env(family, self.image_size)

    def run(self, config: EpisodeConfig, store=None, critic=None) -> EpisodeResult:
        """One episode. `critic` (any interleave_robot Critic, e.g. a trained VLM critic) replaces
        the perception critic when `config.use_critic` is set; the caller keeps ownership of it."""
        from interleave_robot.sim_envs.executor import SubgoalExecutor
        from interleave_robot.sim_envs.perception_critic import PerceptionCritic
        from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator
        from interleave_robot.sim_envs.teacher import TeacherConfig, TeacherPlanner

        if config.image_size != self.image_size:
            raise ConfigError(f"this runner renders {self.image_size}px, the episode asks for {config.image_size}px")
        t0 = time.perf_counter()
        env = self._env(config.family)
        options = {"steps": config.steps} if config.steps else None
        _, info = env.reset(seed=config.seed, options=options)
        unwrapped = env.unwrapped
        observation = unwrapped.observation()
        gen_config = SimGeneratorConfig(fault_rate=config.fault_rate, vagueness_gain=config.vagueness_gain)
        if self._generator is None:
            self._generator = SimulatedGenerator(gen_config)
        self._generator.config = gen_config
        pipeline = GuidancePipeline(
            TeacherPlanner(TeacherConfig(prompt_style=config.prompt_style, seed=config.seed)), self._generator,
            (critic or PerceptionCritic()) if config.use_critic else None,
            PipelineConfig(max_attempts_per_step=config.max_attempts_per_step, use_critic=config.use_critic,
                           seed=config.seed))
        trajectory = pipeline.run(info["task"], observation, store=store)
        executor = SubgoalExecutor()
        execution, failure = [], trajectory.error
        env_steps = 0
        for result in trajectory.steps if failure is None else []:
            accepted = result.accepted
            if accepted is None or accepted.image is None:
                failure = f"step {result.step.step_number}: no image to follow ({result.flag_reason})"
                break
            outcome = executor.execute(env, accepted.image, result.step.instruction)
            env_steps += outcome.env_steps
            execution.append({"step": result.step.step_number, "success": outcome.success, "reason": outcome.reason,
                              "moved_object": outcome.moved_object, "target_xyz": outcome.target_xyz,
                              "env_steps": outcome.env_steps})
            if not outcome.success:
                failure = f"step {result.step.step_number}: executor: {outcome.reason}"
                break
        success = unwrapped.is_success()
        if not success and failure is None:
            failure = "every step executed but the task predicate does not hold"
        faults = [[a.metadata.get("fault", NO_FAULT) for a in s.attempts] for s in trajectory.steps]
        accepted_faults = [s.accepted.metadata.get("fault", NO_FAULT) if s.accepted else "missing"
                           for s in trajectory.steps]
        return EpisodeResult(
            family=config.family, seed=config.seed, task=info["task"].text, success=success,
            steps=len(trajectory.plan.steps) if trajectory.plan else 0, steps_executed=len(execution),
            generator_calls=trajectory.generator_calls, critic_rejections=trajectory.critic_rejections,
            accepted_faults=accepted_faults, attempt_faults=[f for fs in faults for f in fs], execution=execution,
            failure=None if success else failure, seconds=time.perf_counter() - t0, env_steps=env_steps,
            trajectory=trajectory, final_image=unwrapped.observation().image, initial_image=observation.image)

    def close(self) -> None:
        """Free the generator's GL context (idempotent). The envs belong to the process's cache
        (env_cache.py), closed by `close_cached_envs()` or at exit."""
        if self._generator is not None:
            self._generator.close()
            self._generator = None


def run_episode(config: EpisodeConfig, out_dir=None) -> EpisodeResult:
    """One episode; with `out_dir`, the run is stored there (RunStore) for the report."""
    store = None
    if out_dir is not None:
        from interleave_robot.store import RunStore

        store = RunStore.create(out_dir, meta={"episode": vars(config)})
    runner = EpisodeRunner(config.image_size)
    try:
        return runner.run(config, store=store)
    finally:
        runner.close()

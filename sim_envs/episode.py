"""One guidance episode in simulation: the measurement behind `demo`, `bench`, ROS and training eval.

reset env -> GuidancePipeline(planner, generator, critic | none) -> the executor follows
each accepted subgoal image -> task predicate. The agents are any registered backend,
`module:Class` or plugin (defaults: the privileged teacher, the simulated generator, the
perception critic). The executor sees only images, the camera and the instruction.

Loop "closed" (default): the robot (`SimRobot`: executor + env) executes each accepted step
inside the pipeline, and the next step is generated from the robot's camera frame and the
real simulator state behind it; a failed step or a scene that changed after it asks the
planner again (within `max_replans`). Loop "open" is the paper's: the whole trajectory is
generated from the first camera image, then executed in order.

Every accepted image is scored by the privileged simulation judge (judge.py: scoring only);
for the simulated generator the exact ground truth (its fault labels) is recorded beside.

`EpisodeRunner` keeps one generator/critic/planner per (backend, options) and takes its envs
from the process's cache (env_cache.py); `run_episode` is the one-shot form.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from interleave_robot.agents import Generator, Robot
from interleave_robot.errors import BackendError, ConfigError
from interleave_robot.events import REPLANNED, STEP_ACCEPTED, STEP_EXECUTED
from interleave_robot.pipeline import LOOPS, GuidancePipeline, PipelineConfig
from interleave_robot.registry import CRITICS, GENERATORS, PLANNERS
from interleave_robot.sim_envs import vision
from interleave_robot.sim_envs.env_cache import cached_env
from interleave_robot.sim_envs.faults import NO_FAULT
from interleave_robot.sim_envs.placement import apply_subgoal
from interleave_robot.sim_envs.scene import SimSnapshot, write_state
from interleave_robot.sim_envs.tasks import FAMILIES, MAX_STEPS, goal_of
from interleave_robot.sim_envs.teacher import holding_prefix
from interleave_robot.store import RunStore
from interleave_robot.types import GenerationRequest, GenerationResult, StepFeedback, StepResult, Trajectory

NO_CRITIC = "none"
DRIFT_PX = 3.0  # a placed block seen this far from where it was left asks for a re-plan
_REGISTRIES = {"planner": PLANNERS, "generator": GENERATORS, "critic": CRITICS}

# Options the episode gives its default sim backends (a user's --*-opt overrides them).
_EPISODE_OPTIONS: dict[tuple[str, str], Callable[["EpisodeConfig"], dict]] = {
    ("planner", "teacher"): lambda c: {"prompt_style": c.prompt_style, "seed": c.seed,
                                       "from_current_state": c.loop == "closed"},
    ("generator", "sim"): lambda c: {"fault_rate": c.fault_rate, "vagueness_gain": c.vagueness_gain},
}


@dataclass
class EpisodeConfig:
    family: str = "stack"
    seed: int = 0
    fault_rate: float = 0.3  # the simulated generator's (ignored by other generators)
    use_critic: bool = True  # False: no critic, whatever `critic` says
    max_attempts_per_step: int = 3
    steps: int | None = None  # task steps (None: the family's random range)
    image_size: int = 128
    prompt_style: str = "natural"  # the teacher's prompts: "natural" (vaguer) or "explicit"
    vagueness_gain: float = 1.0
    planner: str = "teacher"
    planner_options: dict = field(default_factory=dict)
    generator: str = "sim"
    generator_options: dict = field(default_factory=dict)
    critic: str = "perception"  # or "none"
    critic_options: dict = field(default_factory=dict)
    loop: str = "closed"  # "closed" | "open"
    max_replans: int = 2
    execution_noise: float = 0.0  # metres: after each executed step one free block is nudged by N(0, this) in x, y
    judge: bool = True  # score accepted images with the privileged simulation judge

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
        if self.loop not in LOOPS:
            raise ConfigError(f"EpisodeConfig.loop must be one of {', '.join(LOOPS)}, got {self.loop!r}")
        if self.max_replans < 0:
            raise ConfigError(f"EpisodeConfig.max_replans must be >= 0, got {self.max_replans}")
        if not 0.0 <= self.execution_noise <= 0.05:
            raise ConfigError(f"EpisodeConfig.execution_noise must be in [0, 0.05] m, got {self.execution_noise}")
        for kind in _REGISTRIES:
            if not isinstance(getattr(self, kind), str) or not getattr(self, kind):
                raise ConfigError(f"EpisodeConfig.{kind} must be a backend name, got {getattr(self, kind)!r}")
            if not isinstance(getattr(self, f"{kind}_options"), dict):
                raise ConfigError(f"EpisodeConfig.{kind}_options must be a dict")

    @property
    def critic_name(self) -> str:
        """The critic backend that runs ("none" when there is none)."""
        return self.critic if self.use_critic else NO_CRITIC

    def backend_options(self, kind: str) -> dict:
        """The options `kind`'s backend is built with: the episode's defaults, then the user's."""
        name = self.critic_name if kind == "critic" else getattr(self, kind)
        defaults = _EPISODE_OPTIONS.get((kind, name))
        return {**(defaults(self) if defaults else {}), **getattr(self, f"{kind}_options")}

    def check_backends(self) -> None:
        """Resolve every backend name now (ConfigError naming the unknown or unimportable one)."""
        for kind, registry in _REGISTRIES.items():
            name = self.critic_name if kind == "critic" else getattr(self, kind)
            if name != NO_CRITIC:
                registry.resolve(name)


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
    accepted_faults: list[str]  # ground-truth fault of each accepted image ("none" when right; "?" unknown)
    attempt_faults: list[str]  # ground-truth fault of every generated image
    execution: list[dict]  # the executor's result per step
    failure: str | None  # why the episode failed, when it did
    seconds: float
    env_steps: int
    planner: str = "teacher"
    generator: str = "sim"
    critic: str = "perception"
    loop: str = "closed"
    generator_errors: int = 0  # attempts whose generator raised or returned an unusable image
    replans: int = 0
    judge: list[dict] = field(default_factory=list)  # per accepted image: right, reason, ground_truth
    trajectory: Trajectory | None = field(default=None, repr=False)
    final_image: np.ndarray | None = field(default=None, repr=False)
    initial_image: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready (trajectory and images left out)."""
        skip = {"trajectory", "final_image", "initial_image"}
        return {k: v for k, v in vars(self).items() if k not in skip}


class FrameSizeChecked(Generator):
    """Wraps a generator: an image of another size than the camera's is a failed attempt, with the reason."""

    config_class = dict

    def __init__(self, inner: Generator, shape: tuple[int, ...]):
        self.inner, self.shape = inner, tuple(shape)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        out = self.inner.generate(request)
        image = getattr(out, "image", None)
        if isinstance(image, np.ndarray) and image.shape != self.shape:
            raise BackendError(f"generator returned a {image.shape[1]}x{image.shape[0]} image, the camera frame "
                               f"is {self.shape[1]}x{self.shape[0]}")
        return out


def push_block(env, name: str, dx: float, dy: float, settle_steps: int = 60) -> None:
    """The world moves block `name` by (dx, dy) metres (privileged: a disturbance, no agent's
    doing), then physics settles."""
    base = env.unwrapped
    state = base.state()
    state.positions[name][0] += float(dx)
    state.positions[name][1] += float(dy)
    mj = base._mujoco
    write_state(base.model, base.data, base.scene_spec, state)
    mj.mj_forward(base.model, base.data)
    mj.mj_step(base.model, base.data, nstep=settle_steps)
    mj.mj_kinematics(base.model, base.data)


def nudge_block(env, rng: np.random.Generator, sigma: float) -> str | None:
    """Execution noise: push one block that has nothing on top of it by N(0, sigma) in x and y.
    Returns the block's name (None if none moved)."""
    base = env.unwrapped
    state = base.state()
    blocks = [b.name for b in base.scene_spec.blocks]
    free = [n for n in blocks if not any(
        m != n and state.positions[m][2] > state.positions[n][2] + 0.01
        and np.hypot(*(np.subtract(state.positions[m][:2], state.positions[n][:2]))) < 0.03 for m in blocks)]
    if not free or sigma <= 0:
        return None
    name = free[int(rng.integers(len(free)))]
    push_block(env, name, rng.normal(0.0, sigma), rng.normal(0.0, sigma))
    return name


class SimRobot(Robot):
    """The simulated robot: the executor follows an accepted image in the env; reports the frame after.

    `disturb(env, step_index)` (execution noise, tests) runs after each executed step. A step
    whose moved block is then seen more than DRIFT_PX from where it was left asks for a re-plan.

    The robot hands the executor the latest Gymnasium (obs, info) it has (from `reset`, given to
    the constructor, then from each execution), so the executor needs no extra look step.
    """

    def __init__(self, env, executor=None, disturb: Callable | None = None, obs: dict | None = None,
                 info: dict | None = None):
        from interleave_robot.sim_envs.executor import SubgoalExecutor

        self.env, self.executor, self.disturb = env, executor or SubgoalExecutor(), disturb
        self.execution: list[dict] = []
        self.env_steps = 0
        self.obs, self.info = obs, info  # the latest Gymnasium observation and info (None: unknown)

    def execute(self, step_result: StepResult, step_index: int) -> StepFeedback:
        base = self.env.unwrapped
        number = step_result.step.step_number
        accepted = step_result.accepted
        if accepted is None or accepted.image is None:
            reason = f"no image to follow ({step_result.flag_reason})"
            self.execution.append({"step": number, "success": False, "reason": reason, "moved_object": None,
                                   "target_xyz": None, "env_steps": 0})
            return StepFeedback(base.observation(), success=False, reason=reason)
        outcome = self.executor.execute(self.env, accepted.image, step_result.step.instruction,
                                        obs=self.obs, info=self.info)
        self.env_steps += outcome.env_steps
        self.obs, self.info = outcome.obs, outcome.info
        record = {"step": number, "success": outcome.success, "reason": outcome.reason,
                  "moved_object": outcome.moved_object, "target_xyz": outcome.target_xyz,
                  "env_steps": outcome.env_steps}
        self.execution.append(record)
        if not outcome.success:
            return StepFeedback(base.observation(), success=False, reason=f"executor: {outcome.reason}")
        left = base.observation()
        if self.disturb is None:
            return StepFeedback(left)
        record["disturbed"] = self.disturb(self.env, step_index)
        after = base.observation()
        self.obs, self.info = _gym_view(after, self.info)  # the world moved outside env.step
        color = base.scene_spec.get(outcome.moved_object).color if outcome.moved_object else None
        if color is not None:
            was = vision.merged_blob(vision.color_masks(left.image, [color])[color])
            now = vision.merged_blob(vision.color_masks(after.image, [color])[color])
            drift = np.inf if (was is None) != (now is None) else (
                0.0 if was is None else float(np.hypot(was.u - now.u, was.v - now.v)))
            if drift > DRIFT_PX:
                return StepFeedback(after, success=True, replan=True,
                                    reason=f"the {color} block moved {drift:.1f} px after it was placed")
        return StepFeedback(after)


def _gym_view(observation, info: dict | None) -> tuple[dict, dict | None]:
    """The Gymnasium (obs, info) the executor reads, from a freshly rendered Observation (after
    a disturbance moved the world outside env.step). `info`'s other entries are kept as they were."""
    obs = {"rgb": observation.image, "depth": observation.depth,
           "gripper": np.asarray(observation.metadata["gripper"], dtype=np.float32)}
    if info is None:
        return obs, None
    return obs, {**info, "camera": observation.camera, "inventory": observation.inventory}


class EpisodeRunner:
    """Runs episodes, reusing the agents (one per backend and options) and the process's envs."""

    def __init__(self, image_size: int = 128, env_options: dict | None = None):
        self.image_size = image_size
        self.env_options = dict(env_options or {})  # TabletopEnv options, e.g. render_on_demand
        self._backends: dict[tuple, Any] = {}
        self._judge = None

    def _env(self, family: str):
        return cached_env(family, self.image_size, **self.env_options)

    def backend(self, kind: str, name: str, options: dict):
        """The runner's instance of backend `name` with `options` (built on first use)."""
        key = (kind, name, json.dumps(options, sort_keys=True, default=str))
        if key not in self._backends:
            self._backends[key] = _REGISTRIES[kind].build(name, options)
        return self._backends[key]

    def judge(self):
        from interleave_robot.sim_envs.judge import SimulationJudge

        if self._judge is None:
            self._judge = SimulationJudge()
        return self._judge

    def run(self, config: EpisodeConfig, store=None, critic=None, disturb: Callable | None = None,
            listeners=None) -> EpisodeResult:
        """One episode. `critic` (any interleave_robot Critic, e.g. a trained VLM critic) replaces
        the configured critic when one is on; the caller keeps ownership of it. `disturb(env,
        step_index)` runs after each executed step (else `config.execution_noise` nudges)."""
        if config.image_size != self.image_size:
            raise ConfigError(f"this runner renders {self.image_size}px, the episode asks for {config.image_size}px")
        config.check_backends()
        t0 = time.perf_counter()
        env = self._env(config.family)
        options = {"steps": config.steps} if config.steps else None
        obs, info = env.reset(seed=config.seed, options=options)
        unwrapped = env.unwrapped
        observation = unwrapped.observation()
        planner = self.backend("planner", config.planner, config.backend_options("planner"))
        generator = FrameSizeChecked(self.backend("generator", config.generator, config.backend_options("generator")),
                                     observation.image.shape)
        if config.critic_name == NO_CRITIC:
            critic = None
        elif critic is None:
            critic = self.backend("critic", config.critic_name, config.backend_options("critic"))
        if disturb is None and config.execution_noise > 0:
            noise_rng = np.random.default_rng([config.seed, 0x6E6F69])
            disturb = lambda e, _k: nudge_block(e, noise_rng, config.execution_noise)  # noqa: E731
        robot = SimRobot(env, disturb=disturb, obs=obs, info=info)
        pipeline = GuidancePipeline(planner, generator, critic, PipelineConfig(
            max_attempts_per_step=config.max_attempts_per_step, use_critic=critic is not None, seed=config.seed,
            loop=config.loop, max_replans=config.max_replans))
        sources = _SourceStates(observation.state)
        trajectory = pipeline.run(info["task"], observation, store=store, robot=robot,
                                  listeners=[sources, *(listeners or [])])
        failure = trajectory.error
        if config.loop == "open" and failure is None:
            for index, result in enumerate(trajectory.steps):
                feedback = robot.execute(result, index)
                if not feedback.success:
                    failure = f"step {result.step.step_number}: {feedback.reason}"
                    break
        success = unwrapped.is_success()
        if not success and failure is None:
            failure = "every step executed but the task predicate does not hold"
        faults = [[a.metadata.get("fault", "?") for a in s.attempts if a.image is not None] for s in trajectory.steps]
        accepted_faults = [s.accepted.metadata.get("fault", "?") if s.accepted else "missing"
                           for s in trajectory.steps]
        judged = self._judge_steps(config, info["task"], trajectory, sources, observation.state) if config.judge else []
        return EpisodeResult(
            family=config.family, seed=config.seed, task=info["task"].text, success=success,
            steps=len(trajectory.plan.steps) if trajectory.plan else 0, steps_executed=len(robot.execution),
            generator_calls=trajectory.generator_calls, critic_rejections=trajectory.critic_rejections,
            accepted_faults=accepted_faults, attempt_faults=[f for fs in faults for f in fs],
            execution=robot.execution, failure=None if success else failure, seconds=time.perf_counter() - t0,
            env_steps=robot.env_steps, planner=config.planner, generator=config.generator, critic=config.critic_name,
            loop=config.loop, generator_errors=sum(1 for s in trajectory.steps for a in s.attempts
                                                   if a.error and a.error.startswith("generator")),
            replans=len(trajectory.metadata.get("replans", [])), judge=judged, trajectory=trajectory,
            final_image=unwrapped.observation().image, initial_image=observation.image)

    def _judge_steps(self, config, task, trajectory, sources: "_SourceStates", initial) -> list[dict]:
        """The privileged judge's verdict on each accepted image, beside the exact ground truth."""
        goal = goal_of(task.spec)
        spec = initial.spec
        judge = self.judge()
        out = []
        chain = initial.state  # the teacher's scene before the step, for sources without a state
        position, offset = 0, holding_prefix(goal, spec, trajectory.observation) if config.loop == "closed" else 0
        for index, result in enumerate(trajectory.steps):
            if index in sources.replanned_after:
                position, offset = 0, holding_prefix(goal, spec, sources.replanned_after[index])
            source = sources.before.get(index)
            source_state = source.state if isinstance(source, SimSnapshot) else chain
            relation = offset + position
            position += 1
            accepted = result.accepted
            truth = None if accepted is None else accepted.metadata.get("fault")
            entry = {"step": result.step.step_number, "ground_truth_right": None if truth is None else truth == NO_FAULT}
            if relation >= len(goal):
                entry.update(right=False, reason="the teacher's goal has no step left for this one")
            elif accepted is None or accepted.image is None:
                entry.update(right=False, reason="no accepted image")
            else:
                verdict = judge.score(accepted.image, spec, source_state, goal[relation])
                entry.update(verdict.to_dict())
            if relation < len(goal):
                chain = apply_subgoal(spec, source_state, goal[relation])
            out.append(entry)
        return out

    def close(self) -> None:
        """Free the agents and the judge (idempotent). The envs belong to the process's cache
        (env_cache.py), closed by `close_cached_envs()` or at exit."""
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            backend.close()
        if self._judge is not None:
            self._judge.close()
            self._judge = None

    def __enter__(self) -> "EpisodeRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _SourceStates:
    """A pipeline listener noting the simulator state each step starts from (for the judge):
    the robot's real scene in closed loop, the previous accepted image's state in open loop."""

    def __init__(self, initial):
        self.before: dict[int, Any] = {0: initial}
        self.replanned_after: dict[int, Any] = {}  # first step index of a new plan -> the observation re-planned on
        self._last, self._seen = 0, None

    def __call__(self, event) -> None:
        payload = event.payload
        if event.kind == STEP_ACCEPTED:
            self._last = payload["step_index"]
            accepted = payload["step_result"].accepted
            self.before.setdefault(self._last + 1, accepted.state if accepted is not None else None)
        elif event.kind == STEP_EXECUTED:
            self._seen = payload["feedback"].observation
            self.before[payload["step_index"] + 1] = self._seen.state
        elif event.kind == REPLANNED:
            self.replanned_after[self._last + 1] = self._seen


def run_episode(config: EpisodeConfig, out_dir=None) -> EpisodeResult:
    """One episode; with `out_dir`, the run is stored there (RunStore) for the report."""
    store = None
    if out_dir is not None:
        store = RunStore.create(out_dir, meta={"episode": vars(config)})
    with EpisodeRunner(config.image_size) as runner:
        return runner.run(config, store=store)

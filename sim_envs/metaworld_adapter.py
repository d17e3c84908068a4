"""Meta-World adapter: the guidance loop on Meta-World v3 tasks, with Meta-World's own experts acting.

A second, independent benchmark beside our tabletop tasks. For each task a fixed list of
phases (e.g. pick-place: reach the puck, grasp and lift it, place it at the goal) is the plan:

- `MetaWorldPhasePlanner` (privileged, named as such: it reads the task name) writes one plan
  step per phase;
- `MetaWorldPhaseGenerator` draws the subgoal image of a phase by simulation: from the source
  state (a `MetaWorldSnapshot`: task, episode, expert steps taken) it replays Meta-World's
  scripted expert in its own env until the phase is complete and renders the camera;
- `metaworld_runner.MetaWorldRunner` follows those images in the real env (the expert acts,
  a phase ends when the camera frame matches its subgoal image) beside the expert alone.

Meta-World's "corner" cameras render upside down: images are flipped here. Shadows and
multisampling are switched off before the first render (10x faster on CPU).
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from interleave_robot.agents import Generator, Planner
from interleave_robot.errors import BackendError, ConfigError
from interleave_robot.sim_envs.rendering import import_mujoco
from interleave_robot.types import GenerationRequest, GenerationResult, Observation, Plan, PlanStep, Task


@dataclass(frozen=True)
class Phase:
    """One phase of a task: its instruction and when it is complete (Meta-World obs and info)."""

    name: str
    instruction: str
    done: object  # (obs, info, first_obs) -> bool; obs[:3] hand, obs[3] gripper, obs[4:7] object


def _near(a, b, tol):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b))) < tol


def _success(obs, info, first):
    return bool(info.get("success", 0.0))


# Object positions are obs[4:7] (the puck, door handle, drawer handle or button).
PHASES: dict[str, tuple[Phase, ...]] = {
    "reach-v3": (Phase("reach", "Move the gripper to the goal point.", _success),),
    "push-v3": (
        Phase("reach", "Lower the gripper onto the puck.",
              lambda o, i, f: _near(o[:2], o[4:6], 0.02) and o[2] - o[6] < 0.045),
        Phase("push", "Push the puck to the goal.", _success)),
    "pick-place-v3": (
        Phase("reach", "Bring the open gripper down around the puck.",
              lambda o, i, f: _near(o[:2], o[4:6], 0.02) and o[2] - o[6] < 0.05),
        Phase("grasp", "Close the gripper on the puck and lift it.", lambda o, i, f: o[6] > f[6] + 0.02),
        Phase("place", "Carry the puck to the goal.", _success)),
    "door-open-v3": (
        Phase("reach", "Hook the gripper behind the door handle.", lambda o, i, f: _near(o[:3], o[4:7], 0.06)),
        Phase("open", "Swing the door open.", _success)),
    "drawer-open-v3": (
        Phase("reach", "Put the gripper at the drawer handle.", lambda o, i, f: _near(o[:3], o[4:7], 0.05)),
        Phase("open", "Pull the drawer open.", _success)),
    "button-press-topdown-v3": (
        Phase("reach", "Hold the gripper right above the button.",
              lambda o, i, f: _near(o[:2], o[4:6], 0.02)),
        Phase("press", "Press the button down.", _success)),
}
POLICIES = {"reach-v3": "SawyerReachV3Policy", "push-v3": "SawyerPushV3Policy",
            "pick-place-v3": "SawyerPickPlaceV3Policy", "door-open-v3": "SawyerDoorOpenV3Policy",
            "drawer-open-v3": "SawyerDrawerOpenV3Policy",
            "button-press-topdown-v3": "SawyerButtonPressTopdownV3Policy"}
TASK_NAMES = tuple(PHASES)


def check_task(name: str) -> str:
    if name not in PHASES:
        raise ConfigError(f"unknown Meta-World task {name!r}; supported: {', '.join(TASK_NAMES)}")
    return name


@dataclass
class MetaWorldSnapshot:
    """A Meta-World state by replay: task, episode (task variant and reset seed), expert steps."""

    task: str
    episode: int
    steps: int = 0

    def to_dict(self) -> dict:
        return {"task": self.task, "episode": self.episode, "steps": self.steps}

    @classmethod
    def from_dict(cls, data: dict) -> "MetaWorldSnapshot":
        return cls(data["task"], int(data["episode"]), int(data["steps"]))


@functools.lru_cache(maxsize=8)
def _benchmark(name: str):
    import metaworld

    return metaworld.MT1(name, seed=0)  # 50 task variants (object and goal positions)


class MetaWorldEnv:
    """One Meta-World env of one task, reset to an episode; renders flipped, shadows off."""

    def __init__(self, name: str, image_size: int = 128, camera: str = "corner"):
        import_mujoco()  # chooses the GL backend before Meta-World imports mujoco
        import metaworld.policies as policies

        self.name = check_task(name)
        bench = _benchmark(name)
        self.env = bench.train_classes[name](render_mode="rgb_array", camera_name=camera,
                                             width=image_size, height=image_size)
        self._tasks = bench.train_tasks
        self.policy = vars(policies)[POLICIES[name]]()
        quality = self.env.model.vis.quality
        quality.shadowsize, quality.offsamples = 0, 0
        self.env.model.light_castshadow[:] = 0
        self.steps, self.succeeded = 0, False
        self.obs = self.first = None
        self.info: dict = {}

    def reset(self, episode: int) -> np.ndarray:
        self.env.set_task(self._tasks[episode % len(self._tasks)])
        self.obs, self.info = self.env.reset(seed=episode)
        self.first, self.steps, self.succeeded = self.obs.copy(), 0, False
        return self.obs

    @property
    def max_steps(self) -> int:
        return int(self.env.max_path_length)

    def expert_step(self, rng: np.random.Generator | None = None, noise: float = 0.0) -> bool:
        """One expert action (with optional Gaussian action noise); True while steps remain."""
        if self.steps >= self.max_steps:
            return False
        with warnings.catch_warnings():  # the experts' gains trip Meta-World's own clipping warning
            warnings.simplefilter("ignore")
            action = self.policy.get_action(self.obs)
        if noise > 0 and rng is not None:
            action = action + rng.normal(0.0, noise, size=action.shape)
        self.obs, _, _, _, self.info = self.env.step(np.clip(action, -1.0, 1.0).astype(np.float32))
        self.steps += 1
        self.succeeded = self.succeeded or bool(self.info.get("success", 0.0))
        return self.steps < self.max_steps

    @property
    def success(self) -> bool:
        """Meta-World's convention: an episode succeeds if any of its steps did."""
        return self.succeeded

    def render(self) -> np.ndarray:
        return np.ascontiguousarray(self.env.render()[::-1])  # the corner camera renders upside down

    def close(self) -> None:
        self.env.close()


@dataclass
class MetaWorldPlannerConfig:
    pass


class MetaWorldPhasePlanner(Planner):
    """One plan step per phase of Task.spec["metaworld_task"] (privileged: reads the task name)."""

    config_class = MetaWorldPlannerConfig

    def __init__(self, config: MetaWorldPlannerConfig | None = None):
        self.config = config or MetaWorldPlannerConfig()

    def plan(self, task: Task, observation: Observation) -> Plan:
        if not task.spec or "metaworld_task" not in task.spec:
            raise ConfigError("the Meta-World planner needs Task.spec['metaworld_task']")
        phases = PHASES[check_task(task.spec["metaworld_task"])]
        steps = [PlanStep(i, p.name, p.instruction, p.instruction, f"phase {i} of {len(phases)}")
                 for i, p in enumerate(phases, start=1)]
        return Plan(steps=steps, metadata={"planner": "metaworld_phases", "privileged": True})


@dataclass
class MetaWorldGeneratorConfig:
    image_size: int = 128
    camera: str = "corner"

    def __post_init__(self):
        if not 32 <= self.image_size <= 512:
            raise ConfigError(f"MetaWorldGeneratorConfig.image_size must be in 32..512, got {self.image_size}")


class MetaWorldPhaseGenerator(Generator):
    """Subgoal image of a phase by replaying Meta-World's expert to the phase's end (sim only)."""

    config_class = MetaWorldGeneratorConfig
    needs_source_state = True  # serve-generator refuses it at start-up

    def __init__(self, config: MetaWorldGeneratorConfig | None = None):
        self.config = config or MetaWorldGeneratorConfig()
        self._envs: dict[str, MetaWorldEnv] = {}

    def _env(self, name: str) -> MetaWorldEnv:
        if name not in self._envs:
            self._envs[name] = MetaWorldEnv(name, self.config.image_size, self.config.camera)
        return self._envs[name]

    def generate(self, request: GenerationRequest) -> GenerationResult:
        source = request.source_state
        if not isinstance(source, MetaWorldSnapshot):
            raise BackendError("the Meta-World generator needs request.source_state to be a MetaWorldSnapshot")
        phases = PHASES[check_task(source.task)]
        wanted = request.prompt.strip().lower()
        index = next((i for i, p in enumerate(phases) if p.instruction.lower() == wanted or p.name == wanted), None)
        if index is None:  # an editor that ignores an instruction it cannot follow
            return GenerationResult(request.source_image, state=source,
                                    metadata={"fault": "unparsed", "reason": f"no phase says {request.prompt!r}"})
        env = self._env(source.task)
        env.reset(source.episode)
        while env.steps < source.steps and env.expert_step():
            pass
        reached = phases[index].done(env.obs, env.info, env.first)
        while not reached and env.expert_step():
            reached = phases[index].done(env.obs, env.info, env.first)
        state = MetaWorldSnapshot(source.task, source.episode, env.steps)
        return GenerationResult(env.render(), state=state, metadata={
            "fault": "none" if reached else "phase_not_reached", "phase": phases[index].name,
            "expert_steps": env.steps, "snapshot": state.to_dict()})

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


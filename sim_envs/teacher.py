"""TeacherPlanner: the privileged planner of the simulation (registered as planner "teacher").

It reads the structured goal in Task.spec (which a real planner never sees) and writes the
plan in the InterleaveThinker format, one step per goal relation. It plays the role Gemini
plays in the paper's data pipeline: a teacher that labels data and a baseline, named as such.

Its prompts are deliberately the natural, less explicit phrasing people use ("put the red one
on the blue one"); the perception critic's refined prompts are explicit (language.describe_subgoal),
so the fault law makes refinement measurably help. `prompt_style="explicit"` writes explicit
prompts from the start (an upper bound for prompt quality).
`teacher_subgoal_states(task, snapshot)` gives the ground-truth scene after every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interleave_robot.agents import Planner
from interleave_robot.errors import ConfigError
from interleave_robot.types import Observation, Plan, PlanStep, Task

from interleave_robot.sim_envs.language import describe_subgoal, natural_phrases
from interleave_robot.sim_envs.placement import apply_subgoal, relation_holds
from interleave_robot.sim_envs.relations import RELATIONS
from interleave_robot.sim_envs.scene import SceneSpec, SimSnapshot
from interleave_robot.sim_envs.tasks import goal_of

PROMPT_STYLES = ("natural", "explicit")


@dataclass
class TeacherConfig:
    prompt_style: str = "natural"
    seed: int = 0  # picks among the natural phrasings
    # Closed loop: plan only from the first goal relation that does not hold in the
    # observation's simulator state (a re-plan skips what is done and redoes what came undone).
    from_current_state: bool = False

    def __post_init__(self):
        if self.prompt_style not in PROMPT_STYLES:
            raise ConfigError(f"TeacherConfig.prompt_style must be one of {PROMPT_STYLES}, got {self.prompt_style!r}")


def _checked_spec(task: Task) -> dict:
    if not isinstance(task, Task) or not task.spec or "goal" not in task.spec or "scene" not in task.spec:
        raise ConfigError("the teacher planner is privileged: it needs a simulated task whose Task.spec has "
                          "'goal' and 'scene' (from sim_envs.tasks.sample_task)")
    return task.spec


class TeacherPlanner(Planner):
    """Plans from the simulator's task spec (privileged information)."""

    config_class = TeacherConfig

    def __init__(self, config: TeacherConfig | None = None):
        self.config = config or TeacherConfig()

    def plan(self, task: Task, observation: Observation) -> Plan:
        spec_dict = _checked_spec(task)
        spec = SceneSpec.from_dict(spec_dict["scene"])
        rng = np.random.default_rng([self.config.seed, int(spec_dict.get("phrasing", 0))])
        steps = []
        goal = goal_of(spec_dict)
        if self.config.from_current_state:
            goal = goal[holding_prefix(goal, spec, observation):]
        for i, subgoal in enumerate(goal, start=1):
            natural = natural_phrases(subgoal, spec)
            instruction = natural[int(rng.integers(len(natural)))]
            explicit = describe_subgoal(subgoal, spec)
            prompt = instruction if self.config.prompt_style == "natural" else explicit
            name = f"{RELATIONS[subgoal.relation].step_name} the {spec.get(subgoal.obj).words}"
            steps.append(PlanStep(step_number=i, step_name=name, instruction=instruction, prompt=prompt,
                                  auxiliary_text=f"Afterwards: {explicit}"))
        return Plan(steps=steps, metadata={"planner": "teacher", "privileged": True,
                                           "prompt_style": self.config.prompt_style})


def holding_prefix(goal: list, spec: SceneSpec, observation: Observation | None) -> int:
    """How many goal relations, in order, already hold in the observation's simulator state."""
    state = getattr(observation, "state", None)
    if not isinstance(state, SimSnapshot):
        return 0
    done = 0
    while done < len(goal) and relation_holds(spec, state.state, goal[done]):
        done += 1
    return done


def teacher_subgoal_states(task: Task, snapshot: SimSnapshot) -> list[SimSnapshot]:
    """The ground-truth scene after each step (unsettled target poses), starting from `snapshot`."""
    spec_dict = _checked_spec(task)
    states = []
    current = snapshot.state
    for subgoal in goal_of(spec_dict):
        current = apply_subgoal(snapshot.spec, current, subgoal)
        states.append(SimSnapshot(snapshot.spec, current))
    return states

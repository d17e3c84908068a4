"""Downstream task success in the simulation benchmark with a given critic in the loop.

The episode is the sim harness's (sim_envs/episode.py): reset the family's env -> teacher
planner -> simulated generator with faults -> critic -> the executor follows the accepted
subgoal images -> task predicate. `EpisodeRunner` builds the perception critic itself, so
this module runs the same sequence with any critic from the CRITICS registry: "none",
"perception" (the classical-vision baseline) or "vlm" (a trained checkpoint through the
VLMCritic backend, exactly as a user would plug it in).
"""
from __future__ import annotations

import sys
from pathlib import Path

from interleave_robot.errors import ConfigError

CRITIC_CHOICES = ("none", "perception", "vlm")
FAMILIES = ("stack", "sort", "line", "pick_place")


def vlm_critic_options(model_dir: str | Path) -> dict:
    """VLMCritic options for a trained checkpoint: its own prompt template, greedy decoding."""
    from .evaluate import prompt_config_for

    prompts = prompt_config_for(Path(model_dir))
    return {"vlm": "transformers", "template": prompts.critic_template, "format_retries": 1,
            "vlm_options": {"model": str(model_dir), "processor": "image-only", "max_new_tokens": 96}}


def build_critic(critic: str, model_dir: str | Path | None = None):
    """The critic instance for a choice (None for "none"), built through the CRITICS registry."""
    from interleave_robot.registry import CRITICS

    if critic not in CRITIC_CHOICES:
        raise ConfigError(f"critic must be one of {', '.join(CRITIC_CHOICES)}, got {critic!r}")
    if critic == "none":
        return None
    if critic == "vlm":
        if not model_dir:
            raise ConfigError("critic 'vlm' needs model_dir (a trained checkpoint)")
        return CRITICS.build("vlm", vlm_critic_options(model_dir))
    return CRITICS.build(critic, {})


def run_guided_episode(env, generator, critic, family: str, seed: int, fault_rate: float,
                       max_attempts: int = 3) -> dict:
    """One episode with `critic` (None: accept every first image); returns a JSON-able summary."""
    from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
    from interleave_robot.sim_envs.executor import SubgoalExecutor
    from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig
    from interleave_robot.sim_envs.teacher import TeacherConfig, TeacherPlanner

    _, info = env.reset(seed=seed)
    generator.config = SimGeneratorConfig(fault_rate=fault_rate)
    pipeline = GuidancePipeline(TeacherPlanner(TeacherConfig(seed=seed)), generator, critic,
                                PipelineConfig(max_attempts_per_step=max_attempts, use_critic=critic is not None,
                                               seed=seed))
    trajectory = pipeline.run(info["task"], env.unwrapped.observation())
    executor = SubgoalExecutor()
    failure = trajectory.error
    for result in trajectory.steps if failure is None else []:
        accepted = result.accepted
        if accepted is None or accepted.image is None:
            failure = f"step {result.step.step_number}: no image to follow"
            break
        outcome = executor.execute(env, accepted.image, result.step.instruction)
        if not outcome.success:
            failure = f"step {result.step.step_number}: executor: {outcome.reason}"
            break
    return {"family": family, "seed": seed, "success": bool(env.unwrapped.is_success()), "failure": failure,
            "generator_calls": trajectory.generator_calls, "critic_rejections": trajectory.critic_rejections,
            "accepted_faults": [s.accepted.metadata.get("fault", "none") if s.accepted else "missing"
                                for s in trajectory.steps],
            "flagged_steps": sum(s.flagged for s in trajectory.steps)}


def task_success(critic: str, episodes: int, seed: int = 0, model_dir: str | Path | None = None,
                 families: tuple[str, ...] = FAMILIES, fault_rate: float = 0.3, progress: bool = True) -> dict:
    """Success rate over `episodes` episodes (families take turns; episode i has seed seed+i)."""
    import gymnasium as gym
    from tqdm import tqdm

    from interleave_robot.sim_envs.registration import env_id, register_envs
    from interleave_robot.sim_envs.sim_generator import SimulatedGenerator

    register_envs()
    agent = build_critic(critic, model_dir)
    generator = SimulatedGenerator()
    envs = {}
    runs = []
    try:
        for i in tqdm(range(episodes), desc=f"episodes ({critic})", file=sys.stderr, disable=not progress):
            family = families[i % len(families)]
            if family not in envs:
                envs[family] = gym.make(env_id(family))
            runs.append(run_guided_episode(envs[family], generator, agent, family, seed + i, fault_rate))
    finally:
        for env in envs.values():
            env.close()
        generator.close()
        if agent is not None:
            agent.close()
    per_family = {f: {"success": sum(r["success"] for r in runs if r["family"] == f),
                      "episodes": sum(r["family"] == f for r in runs)} for f in families}
    accepted = [f for r in runs for f in r["accepted_faults"]]
    return {"critic": critic, "episodes": episodes, "success_rate": sum(r["success"] for r in runs) / max(1, episodes),
            "per_family": per_family, "fault_rate": fault_rate, "seed": seed,
            "generator_calls_per_episode": sum(r["generator_calls"] for r in runs) / max(1, episodes),
            "accepted_faulty_share": sum(f != "none" for f in accepted) / max(1, len(accepted)),
            "episodes_detail": runs}

"""Downstream task success in the simulation benchmark with a given critic in the loop.

The episode is the sim harness's (sim_envs/episode.py EpisodeRunner): reset the family's
env -> teacher planner -> simulated generator with faults -> critic -> the executor follows
the accepted subgoal images -> task predicate, with any critic from the CRITICS registry:
"none", "perception" (the classical-vision baseline) or "vlm" (a trained checkpoint through
the VLMCritic backend, exactly as a user would plug it in).
"""
from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from interleave_robot.errors import ConfigError
from interleave_robot.registry import CRITICS
from interleave_robot.training.evaluate import prompt_config_for

# Function-level imports here are only sim_envs modules (they load gymnasium and MuJoCo: the [sim] extra).

CRITIC_CHOICES = ("none", "perception", "vlm")
FAMILIES = ("stack", "sort", "line", "pick_place")


def vlm_critic_options(model_dir: str | Path) -> dict:
    """VLMCritic options for a trained checkpoint: its own prompt template, greedy decoding."""

    prompts = prompt_config_for(Path(model_dir))
    return {"vlm": "transformers", "template": prompts.critic_template,
            "vlm_options": {"model": str(model_dir), "processor": "image-only", "max_new_tokens": 400}}


def build_critic(critic: str, model_dir: str | Path | None = None):
    """The critic instance for a choice (None for "none"), built through the CRITICS registry."""

    if critic not in CRITIC_CHOICES:
        raise ConfigError(f"critic must be one of {', '.join(CRITIC_CHOICES)}, got {critic!r}")
    if critic == "none":
        return None
    if critic == "vlm":
        if not model_dir:
            raise ConfigError("critic 'vlm' needs model_dir (a trained checkpoint)")
        return CRITICS.build("vlm", vlm_critic_options(model_dir))
    return CRITICS.build(critic, {})


def _summary(result) -> dict:
    """The JSON-able part of an EpisodeResult that the downstream tables use."""
    return {"family": result.family, "seed": result.seed, "success": bool(result.success), "failure": result.failure,
            "generator_calls": result.generator_calls, "critic_rejections": result.critic_rejections,
            "accepted_faults": result.accepted_faults,
            "flagged_steps": sum(s.flagged for s in result.trajectory.steps)}


def task_success(critic: str, episodes: int, seed: int = 0, model_dir: str | Path | None = None,
                 families: tuple[str, ...] = FAMILIES, fault_rate: float = 0.3, progress: bool = True,
                 planner_options: dict | None = None) -> dict:
    """Success rate over `episodes` episodes (families take turns; episode i has seed seed+i).

    `planner_options`: VLMPlanner options to plan with a trained planner instead of the teacher."""

    from interleave_robot.sim_envs.episode import EpisodeConfig, EpisodeRunner

    agent = build_critic(critic, model_dir)
    runner = EpisodeRunner()
    runs = []
    try:
        for i in tqdm(range(episodes), desc=f"episodes ({critic})", file=sys.stderr, disable=not progress):
            planner = {"planner": "vlm", "planner_options": planner_options} if planner_options else {}
            config = EpisodeConfig(family=families[i % len(families)], seed=seed + i, fault_rate=fault_rate,
                                   use_critic=agent is not None, **planner)
            runs.append(_summary(runner.run(config, critic=agent)))
    finally:
        runner.close()
        if agent is not None:
            agent.close()
    per_family = {f: {"success": sum(r["success"] for r in runs if r["family"] == f),
                      "episodes": sum(r["family"] == f for r in runs)} for f in families}
    accepted = [f for r in runs for f in r["accepted_faults"]]
    return {"critic": critic, "planner": "vlm" if planner_options else "teacher", "episodes": episodes, "success_rate": sum(r["success"] for r in runs) / max(1, episodes),
            "per_family": per_family, "fault_rate": fault_rate, "seed": seed,
            "generator_calls_per_episode": sum(r["generator_calls"] for r in runs) / max(1, episodes),
            "accepted_faulty_share": sum(f != "none" for f in accepted) / max(1, len(accepted)),
            "episodes_detail": runs}

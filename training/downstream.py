"""Downstream task success in the simulation benchmark with a given critic in the loop.

Each episode is the sim harness's `run_episode` (teacher planner -> simulated generator with
faults -> critic -> executor following the accepted subgoal images -> task predicate). The
critic is "none" (accept every first image), "perception" (the classical-vision baseline) or
"vlm" (a trained checkpoint through the VLMCritic backend, as a user would run it).
"""
from __future__ import annotations

import sys

from interleave_robot.errors import ConfigError

CRITICS = ("none", "perception", "vlm")
FAMILIES = ("stack", "sort", "line", "pick_place")


def vlm_critic_options(model_dir: str) -> dict:
    """VLMCritic options for a trained checkpoint: its own prompt template, greedy decoding."""
    from pathlib import Path

    from .evaluate import prompt_config_for

    prompts = prompt_config_for(Path(model_dir))
    return {"vlm": "transformers", "template": prompts.critic_template, "format_retries": 1,
            "vlm_options": {"model": str(model_dir), "processor": "image-only", "max_new_tokens": 96}}


def task_success(critic: str, episodes: int, seed: int = 0, model_dir: str | None = None,
                 families: tuple[str, ...] = FAMILIES, fault_rate: float = 0.3, progress: bool = True) -> dict:
    """Success rate over `episodes` episodes (families take turns; episode i has seed seed+i)."""
    from tqdm import tqdm

    from interleave_robot.sim_envs.episode import EpisodeConfig, run_episode

    if critic not in CRITICS:
        raise ConfigError(f"critic must be one of {', '.join(CRITICS)}, got {critic!r}")
    if critic == "vlm" and not model_dir:
        raise ConfigError("critic 'vlm' needs model_dir (a trained checkpoint)")
    options = {} if critic != "vlm" else {"critic": "vlm", "critic_options": vlm_critic_options(model_dir)}
    if critic == "perception":
        options = {"critic": "perception"}
    successes, per_family, calls = 0, {}, 0
    for i in tqdm(range(episodes), desc=f"episodes ({critic})", file=sys.stderr, disable=not progress):
        family = families[i % len(families)]
        result = run_episode(EpisodeConfig(family=family, seed=seed + i, fault_rate=fault_rate,
                                           use_critic=critic != "none", **options))
        successes += bool(result.success)
        calls += result.generator_calls
        done, total = per_family.get(family, (0, 0))
        per_family[family] = (done + bool(result.success), total + 1)
    return {"critic": critic, "episodes": episodes, "success_rate": successes / max(1, episodes),
            "per_family": {f: {"success": d, "episodes": t} for f, (d, t) in per_family.items()},
            "generator_calls_per_episode": calls / max(1, episodes), "fault_rate": fault_rate, "seed": seed}

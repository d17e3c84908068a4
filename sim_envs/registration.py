"""The one place where the Gymnasium ids are registered (called when `interleave_robot.sim_envs` is imported).

    import gymnasium as gym, interleave_robot.sim_envs
    env = gym.make("InterleaveRobot/Stack-v0")
"""
from __future__ import annotations

ENV_IDS = {
    "stack": "InterleaveRobot/Stack-v0",
    "sort": "InterleaveRobot/Sort-v0",
    "line": "InterleaveRobot/Line-v0",
    "pick_place": "InterleaveRobot/PickPlace-v0",
}
MAX_EPISODE_STEPS = 2000  # enough for 5 pick-and-place steps with retries


def env_id(family: str) -> str:
    """The registered id of a task family; ValueError naming the known families."""
    if family not in ENV_IDS:
        raise ValueError(f"unknown task family {family!r}; known: {', '.join(ENV_IDS)}")
    return ENV_IDS[family]


def register_envs() -> None:
    """Register every family's id (idempotent)."""
    from gymnasium.envs.registration import register, registry

    for family, name in ENV_IDS.items():
        if name not in registry:
            register(id=name, entry_point="interleave_robot.sim_envs.tabletop_env:TabletopEnv",
                     kwargs={"family": family}, max_episode_steps=MAX_EPISODE_STEPS)

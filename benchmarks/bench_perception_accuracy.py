"""Accuracy of the perception critic and the executor, every fault type side by side in one run.

    python benchmarks/bench_perception_accuracy.py [--episodes N] [--prompts explicit|natural]

Critic: for every step of N tasks per family, the simulated generator is forced to each
fault type in turn (and to no fault); the critic's verdict is compared with the generator's
recorded ground truth (a fault that cannot apply falls back, and is counted as what it
became). Executor: every step of N tasks per family is followed from the fault-free
subgoal image in the env; counted are steps that succeed and tasks whose predicate holds.
"""
from __future__ import annotations

import argparse
import collections
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")


def critic_accuracy(episodes: int, style: str) -> collections.Counter:
    import numpy as np

    from interleave_robot.sim_envs.faults import FAULT_TYPES
    from interleave_robot.sim_envs.language import describe_subgoal, natural_phrases
    from interleave_robot.sim_envs.perception_critic import PerceptionCritic
    from interleave_robot.sim_envs.placement import apply_subgoal
    from interleave_robot.sim_envs.scene import SceneSpec, SimSnapshot, camera_model
    from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator
    from interleave_robot.sim_envs.tasks import FAMILIES, goal_of, sample_task
    from interleave_robot.types import CritiqueRequest, GenerationRequest

    def forced(fault: str) -> SimulatedGenerator:
        if fault == "none":
            return SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))
        return SimulatedGenerator(SimGeneratorConfig(fault_rate=1.0, fault_weights={
            name: float(name == fault) for name in FAULT_TYPES}))

    generators = {fault: forced(fault) for fault in ("none", *FAULT_TYPES)}
    clean = generators["none"]
    critic = PerceptionCritic()
    counts = collections.Counter()
    for family in FAMILIES:
        for seed in range(episodes):
            task, state = sample_task(family, np.random.default_rng(1000 + seed))
            spec = SceneSpec.from_dict(task.spec["scene"])
            for k, subgoal in enumerate(goal_of(task.spec)):
                before, _ = clean.render_state(spec, state, settle=False)
                camera = camera_model(clean.model, clean.data, spec.image_width, spec.image_height)
                prompt = describe_subgoal(subgoal, spec) if style == "explicit" else natural_phrases(subgoal, spec)[0]
                for generator in generators.values():
                    result = generator.generate(GenerationRequest(prompt=prompt, seed=100 * seed + k,
                                                                  source_image=before,
                                                                  source_state=SimSnapshot(spec, state)))
                    truth = result.metadata["fault"]
                    verdict = critic.critique(CritiqueRequest(before, result.image, prompt, prompt, task=task,
                                                              camera=camera))
                    named = verdict.success if truth == "none" else verdict.reason.startswith(truth + ":")
                    counts[(truth, verdict.success, named)] += 1
                state = clean.render_state(spec, apply_subgoal(spec, state, subgoal))[1]
    for generator in generators.values():
        generator.close()
    return counts


def executor_accuracy(episodes: int) -> dict:
    import gymnasium as gym

    import interleave_robot.sim_envs  # noqa: F401  (registers the env ids)
    from interleave_robot.sim_envs.executor import SubgoalExecutor
    from interleave_robot.sim_envs.language import describe_subgoal
    from interleave_robot.sim_envs.registration import env_id
    from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator
    from interleave_robot.sim_envs.tasks import FAMILIES, goal_of
    from interleave_robot.types import GenerationRequest

    generator = SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))
    executor = SubgoalExecutor()
    rows = {}
    for family in FAMILIES:
        env = gym.make(env_id(family))
        steps_ok = steps = tasks_ok = 0
        for seed in range(episodes):
            _, info = env.reset(seed=seed)
            base = env.unwrapped
            for subgoal in goal_of(info["task"].spec):
                text = describe_subgoal(subgoal, base.scene_spec)
                now = base.observation()
                image = generator.generate(GenerationRequest(prompt=text, seed=seed, source_image=now.image,
                                                             source_state=now.state)).image
                result = executor.execute(env, image, text)
                steps += 1
                steps_ok += result.success
                if not result.success:
                    break
            tasks_ok += base.is_success()
        env.close()
        rows[family] = (steps_ok, steps, tasks_ok, episodes)
    generator.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10, help="tasks per family (default 10)")
    parser.add_argument("--prompts", choices=("explicit", "natural"), default="explicit")
    args = parser.parse_args()
    t0 = time.perf_counter()
    counts = critic_accuracy(args.episodes, args.prompts)
    print(f"perception critic, {args.prompts} prompts, {args.episodes} tasks per family:")
    print(f"{'ground truth':<14}{'images':>7}{'accepted':>9}{'rejected':>9}{'fault named':>12}")
    for truth in sorted({t for t, _, _ in counts}):
        total = sum(v for (t, _, _), v in counts.items() if t == truth)
        accepted = sum(v for (t, s, _), v in counts.items() if t == truth and s)
        named = sum(v for (t, _, n), v in counts.items() if t == truth and n)
        print(f"{truth:<14}{total:>7}{accepted:>9}{total - accepted:>9}{named:>12}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    t0 = time.perf_counter()
    print(f"executor from fault-free subgoal images, {args.episodes} tasks per family:")
    print(f"{'family':<12}{'steps ok':>10}{'tasks ok':>10}")
    for family, (steps_ok, steps, tasks_ok, n) in executor_accuracy(args.episodes).items():
        print(f"{family:<12}{steps_ok:>5}/{steps:<4}{tasks_ok:>6}/{n:<3}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

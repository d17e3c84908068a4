"""Perception speed, side by side in one run: the perception critic and the executor against
the simulated generator and the env they sit beside.

    python benchmarks/bench_perception.py [--quick]

Per call: colour segmentation of one frame, one perception-critic verdict, one simulated
generator image (the call the critic judges); per subgoal: the executor's wall time and env
steps, against the env's own step time. Prints the ratios (critic / generator, executor
overhead beyond env.step).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")


def _per_call(fn, n: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    n = 5 if args.quick else 30

    import gymnasium as gym
    import numpy as np

    import interleave_robot.sim_envs  # noqa: F401  (registers the env ids)
    from interleave_robot.sim_envs import vision
    from interleave_robot.sim_envs.executor import SubgoalExecutor
    from interleave_robot.sim_envs.language import describe_subgoal
    from interleave_robot.sim_envs.perception_critic import PerceptionCritic
    from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator
    from interleave_robot.sim_envs.tasks import goal_of
    from interleave_robot.types import CritiqueRequest, GenerationRequest

    env = gym.make("InterleaveRobot/Stack-v0")
    _, info = env.reset(seed=0, options={"steps": 3})
    base = env.unwrapped
    obs = base.observation()
    task, spec = info["task"], base.scene_spec
    subgoal = goal_of(task.spec)[0]
    prompt = describe_subgoal(subgoal, spec)
    generator = SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))
    request = GenerationRequest(prompt=prompt, seed=0, source_image=obs.image, source_state=obs.state)
    after = generator.generate(request).image
    critic = PerceptionCritic()
    critique = CritiqueRequest(obs.image, after, prompt, prompt, inventory=obs.inventory, camera=obs.camera)

    t_seg = _per_call(lambda: vision.color_masks(obs.image), n)
    t_critic = _per_call(lambda: critic.critique(critique), n)
    t_gen = _per_call(lambda: generator.generate(request), n)
    t_step = _per_call(lambda: env.step(np.zeros(4, np.float32)), n * 5)

    class StepTimer(gym.Wrapper):
        """Adds up the time spent inside env.step (physics + RGB-D rendering)."""

        seconds = 0.0

        def step(self, action):
            t0 = time.perf_counter()
            out = self.env.step(action)
            StepTimer.seconds += time.perf_counter() - t0
            return out

    # The executor on every step of a 3-step stack task, from fault-free subgoal images.
    episodes = 2 if args.quick else 6
    executor = SubgoalExecutor()
    timed = StepTimer(env)
    wall, steps, done, ok = 0.0, 0, 0, 0
    for seed in range(episodes):
        _, info = env.reset(seed=seed, options={"steps": 3})
        for sg in goal_of(info["task"].spec):
            text = describe_subgoal(sg, base.scene_spec)
            now = base.observation()
            image = generator.generate(GenerationRequest(prompt=text, seed=0, source_image=now.image,
                                                         source_state=now.state)).image
            t0 = time.perf_counter()
            result = executor.execute(timed, image, text)
            wall += time.perf_counter() - t0
            steps += result.env_steps
            done += 1
            ok += result.success
            if not result.success:
                break
    generator.close()
    env.close()
    per_subgoal = wall / done
    overhead = (wall - StepTimer.seconds) / done
    print(f"image 128x128, {n} repetitions; executor over {done} subgoals of {episodes} stack tasks")
    print(f"colour segmentation          {1e3 * t_seg:8.2f} ms/frame")
    print(f"perception critic            {1e3 * t_critic:8.2f} ms/verdict")
    print(f"simulated generator          {1e3 * t_gen:8.2f} ms/image")
    print(f"env.step (with RGB-D obs)    {1e3 * t_step:8.2f} ms/step")
    print(f"executor                     {per_subgoal:8.2f} s/subgoal, {steps / done:.0f} env steps/subgoal")
    print(f"ratio critic / generator     {t_critic / t_gen:8.2f}")
    print(f"executor time outside env.step: {100 * overhead / per_subgoal:.0f}% "
          f"({1e3 * overhead:.0f} ms/subgoal: perception, planning, verification)")
    print(f"subgoals followed successfully: {ok}/{done}")


if __name__ == "__main__":
    main()

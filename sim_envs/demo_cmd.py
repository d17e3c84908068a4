"""`interleave-robot demo`: the main job on a machine with no model weights.

A task (stack by default) goes through planner -> generator -> critic -> executor in MuJoCo:
by default the privileged teacher, the simulated generator (faulty at --fault-rate), the
perception critic, closed loop (each subgoal generated from the robot's current view); any
backend with --planner/--generator/--critic (and their --*-opt), --loop open for the paper's loop. Writes the run
directory (plan.json, trajectory.jsonl, images/, summary.json, report.html with the camera
image, every subgoal and rejection, and the final scene) and prints a one-screen summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from interleave_robot.cli.agent_args import NO_CRITIC, add_agent_arguments, agent_options
from interleave_robot.report import write_report
from interleave_robot.sim_envs.rendering import import_mujoco
from interleave_robot.store import RunStore

HELP = "run a simulated task end to end (planner -> generator -> critic -> executor, closed loop) and report it"


SIM_AGENTS = {"planner": "teacher", "generator": "sim", "critic": "perception"}


def add_episode_arguments(parser: argparse.ArgumentParser) -> None:
    """The episode options shared by `demo` and `ros-demo` (read back by `episode_config`)."""
    parser.add_argument("--task", default="stack", help="task family: stack, sort, line or pick_place (default stack)")
    parser.add_argument("--seed", type=int, default=0, help="task layout and generator seed (default 0)")
    parser.add_argument("--fault-rate", type=float, default=0.3,
                        help="simulated generator fault rate for an explicit prompt (default 0.3)")
    parser.add_argument("--no-critic", action="store_true", help="accept every first image (same as --critic none)")
    parser.add_argument("--steps", type=int, default=None, help="number of task steps (default: the family's range)")
    parser.add_argument("--max-attempts", type=int, default=3, help="generator attempts per step (default 3)")
    add_agent_arguments(parser, SIM_AGENTS)
    add_loop_arguments(parser)


def add_loop_arguments(parser: argparse.ArgumentParser, sweep: bool = False) -> None:
    """--loop, --max-replans, --execution-noise (demo, bench, ros-demo)."""
    parser.add_argument("--loop", default="closed",
                        help=("comma-separated loops to sweep: " if sweep else "") +
                        "closed (each subgoal from the robot's current view; re-plan when a step fails) or open "
                        "(the paper's: every subgoal from the previous generated image) (default closed)")
    parser.add_argument("--max-replans", type=int, default=2, help="closed loop: re-plans allowed (default 2)")
    parser.add_argument("--execution-noise", type=float, default=0.0,
                        help="metres: after each executed step one free block is nudged by N(0, this) (default 0)")


def episode_config(args: argparse.Namespace, **overrides):
    """The EpisodeConfig the episode options describe (ConfigError for a bad one)."""
    from interleave_robot.sim_envs.episode import EpisodeConfig

    fields = dict(family=args.task, seed=args.seed, fault_rate=args.fault_rate,
                  max_attempts_per_step=args.max_attempts, steps=args.steps,
                  planner=args.planner, planner_options=agent_options(args, "planner"),
                  generator=args.generator, generator_options=agent_options(args, "generator"),
                  critic=NO_CRITIC if args.no_critic else args.critic, critic_options=agent_options(args, "critic"),
                  loop=args.loop, max_replans=args.max_replans, execution_noise=args.execution_noise)
    fields.update(overrides)
    config = EpisodeConfig(**fields)
    config.check_backends()
    return config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_episode_arguments(parser)
    parser.add_argument("--out", default="runs/demo",
                        help="run directory (default runs/demo; if it already holds a run, runs/demo-2, ... is used)")


def _fresh_dir(path: Path) -> Path:
    """`path`, or the first `path-N` that holds no run yet (never overwrite an earlier run)."""
    candidate, n = path, 1
    while (candidate / "run.json").exists() or (candidate / "trajectory.jsonl").exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _agents_line(config) -> str:
    gen = config.generator + (f" (fault rate {config.fault_rate:g})" if config.generator == "sim" else "")
    return f"planner: {config.planner}   generator: {gen}   critic: {config.critic_name}   loop: {config.loop}"


def _step_lines(result) -> list[str]:
    lines = []
    traj = result.trajectory
    execution = {e["step"]: e for e in result.execution}
    for step in traj.steps:
        lines.append(f"  step {step.step.step_number}: {step.step.instruction}")
        for a in step.attempts:
            verdict = "-" if a.verdict is None else ("accepted" if a.verdict.success else
                                                     f"rejected ({a.verdict.reason or 'no reason'})")
            fault = a.metadata.get("fault", "?")
            lines.append(f"    attempt {a.attempt_index + 1}: fault={fault:<12} critic: {verdict[:90]}")
            if a.verdict is not None and not a.verdict.success and a.verdict.refine_prompt:
                lines.append(f"      refined prompt: {a.verdict.refine_prompt[:100]}")
        ex = execution.get(step.step.step_number)
        if ex is not None:
            lines.append(f"    executor: {'ok' if ex['success'] else 'FAILED'} - {ex['reason'][:90]}")
    return lines


def run(args: argparse.Namespace) -> int:
    from interleave_robot.sim_envs.episode import EpisodeRunner

    import_mujoco()  # a missing GL backend fails here, before a run directory is made
    config = episode_config(args)
    out = _fresh_dir(Path(args.out))
    store = RunStore.create(out, meta={"command": "demo", "episode": vars(config)})
    print(f"demo: {config.family} task, seed {config.seed}, {_agents_line(config)} ...", file=sys.stderr)
    with EpisodeRunner(config.image_size) as runner:
        result = runner.run(config, store=store)
    store.close()
    extra = {"seed": config.seed, "family": config.family, "success": result.success,
             "fault_rate": config.fault_rate, "critic": config.critic_name != NO_CRITIC,
             "planner": config.planner, "generator": config.generator, "critic_backend": config.critic_name,
             "loop": config.loop, "replans": result.replans, "judge": result.judge,
             "accepted_faults": result.accepted_faults, "execution": result.execution,
             "failure": result.failure, "seconds": round(result.seconds, 2)}
    summary = store.write_summary(extra=extra)
    # The demo's contract keys (task, seed, success, steps, generator_calls, critic_rejections)
    # also at the top level, where a reader of summary.json looks first.
    summary.update({"seed": config.seed, "success": result.success})
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    report = write_report(out, extra_images={"Final scene (after execution)": result.final_image})
    lines = [f"task:    {result.task}", f"family:  {config.family}   seed: {config.seed}   {_agents_line(config)}"]
    lines += _step_lines(result)
    lines += [f"result:  {'SUCCESS' if result.success else 'FAILURE'}"
              + ("" if result.success else f" - {result.failure}"),
              f"steps: {result.steps}   generator calls: {result.generator_calls}   "
              f"critic rejections: {result.critic_rejections}   re-plans: {result.replans}   "
              f"judge: {sum(j['right'] for j in result.judge)}/{len(result.judge)} subgoals right   "
              f"time: {result.seconds:.1f} s",
              f"run dir: {out}", f"report:  {report}"]
    print("\n".join(lines))
    return 0

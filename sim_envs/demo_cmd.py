"""`interleave-robot demo`: the main job on a machine with no model weights.

A task (stack by default) goes through teacher planner -> simulated generator (faulty at
--fault-rate) -> perception critic -> executor, closed loop in MuJoCo. Writes the run
directory (plan.json, trajectory.jsonl, images/, summary.json, report.html with the camera
image, every subgoal and rejection, and the final scene) and prints a one-screen summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "run a simulated task end to end (teacher -> sim generator -> perception critic -> executor) and report it"


def add_episode_arguments(parser: argparse.ArgumentParser) -> None:
    """The episode options shared by `demo` and `ros-demo`."""
    parser.add_argument("--task", default="stack", help="task family: stack, sort, line or pick_place (default stack)")
    parser.add_argument("--seed", type=int, default=0, help="task layout and generator seed (default 0)")
    parser.add_argument("--fault-rate", type=float, default=0.3,
                        help="simulated generator fault rate for an explicit prompt (default 0.3)")
    parser.add_argument("--no-critic", action="store_true", help="accept every first image (no perception critic)")
    parser.add_argument("--steps", type=int, default=None, help="number of task steps (default: the family's range)")
    parser.add_argument("--max-attempts", type=int, default=3, help="generator attempts per step (default 3)")


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
    from interleave_robot.report import write_report
    from interleave_robot.store import RunStore

    from interleave_robot.sim_envs.episode import EpisodeConfig, EpisodeRunner
    from interleave_robot.sim_envs.rendering import import_mujoco

    import_mujoco()  # a missing GL backend fails here, before a run directory is made
    config = EpisodeConfig(family=args.task, seed=args.seed, fault_rate=args.fault_rate,
                           use_critic=not args.no_critic, max_attempts_per_step=args.max_attempts, steps=args.steps)
    out = _fresh_dir(Path(args.out))
    store = RunStore.create(out, meta={"command": "demo", "episode": vars(config)})
    print(f"demo: {config.family} task, seed {config.seed}, fault rate {config.fault_rate}, "
          f"critic {'on' if config.use_critic else 'off'} ...", file=sys.stderr)
    runner = EpisodeRunner(config.image_size)
    try:
        result = runner.run(config, store=store)
    finally:
        runner.close()
    extra = {"seed": config.seed, "family": config.family, "success": result.success,
             "fault_rate": config.fault_rate, "critic": config.use_critic,
             "accepted_faults": result.accepted_faults, "execution": result.execution,
             "failure": result.failure, "seconds": round(result.seconds, 2)}
    summary = store.write_summary(extra=extra)
    # The demo's contract keys (task, seed, success, steps, generator_calls, critic_rejections)
    # also at the top level, where a reader of summary.json looks first.
    summary.update({"seed": config.seed, "success": result.success})
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    report = write_report(out, extra_images={"Final scene (after execution)": result.final_image})
    lines = [f"task:    {result.task}", f"family:  {config.family}   seed: {config.seed}   fault rate: "
             f"{config.fault_rate}   critic: {'on' if config.use_critic else 'off'}"]
    lines += _step_lines(result)
    lines += [f"result:  {'SUCCESS' if result.success else 'FAILURE'}"
              + ("" if result.success else f" - {result.failure}"),
              f"steps: {result.steps}   generator calls: {result.generator_calls}   "
              f"critic rejections: {result.critic_rejections}   time: {result.seconds:.1f} s",
              f"run dir: {out}", f"report:  {report}"]
    print("\n".join(lines))
    return 0

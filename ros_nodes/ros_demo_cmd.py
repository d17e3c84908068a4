"""`interleave-robot ros-demo --transport dds`: the simulated task end to end over DDS.

Two participants on 127.0.0.1 (a private domain, loopback-only discovery): a guidance node
(teacher -> simulated generator -> perception critic, built from the registries) and the sim
bridge (MuJoCo camera out, subgoals in, executor). Everything between them crosses DDS as
ROS 2 messages; in the closed loop (default) the bridge reports each executed step on
/interleave/step_done and the node generates the next subgoal from the bridge's next frame.
Prints the same summary as `demo` (same seed, same result); `--record`
writes the guidance stream to an MCAP ROS 2 bag.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from interleave_robot.errors import ConfigError
from interleave_robot.sim_envs.demo_cmd import add_episode_arguments

HELP = "run the simulated task end to end over ROS 2 topics (Cyclone DDS on 127.0.0.1) and print the demo summary"
# The episode options (task, seed, --planner/--generator/--critic and their --*-opt, --loop,
# --max-replans, ...) are demo's, from sim_envs/demo_cmd.py: ros-demo accepts any backend demo does.
TRANSPORTS = ("dds",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", default="dds", choices=TRANSPORTS,
                        help="dds: Cyclone DDS directly with ROS 2 wire conventions (no ROS needed)")
    add_episode_arguments(parser)
    parser.add_argument("--record", default=None, metavar="BAG_DIR",
                        help="record camera, plan, subgoals and status to this new MCAP ROS 2 bag folder")
    parser.add_argument("--domain-id", type=int, default=None,
                        help="DDS domain (default: a free-looking id derived from the process id)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each step (default 600)")


def _episode_result(config, bridge_result, trajectory):
    """The bridge's outcome and the node's trajectory as sim_envs.episode.EpisodeResult."""
    from interleave_robot.sim_envs.episode import EpisodeResult
    from interleave_robot.sim_envs.faults import NO_FAULT

    steps = trajectory.steps if trajectory is not None else []
    return EpisodeResult(
        family=bridge_result.family, seed=bridge_result.seed, task=bridge_result.task,
        success=bridge_result.success, steps=len(trajectory.plan.steps) if trajectory and trajectory.plan else 0,
        steps_executed=len(bridge_result.execution),
        generator_calls=trajectory.generator_calls if trajectory else 0,
        critic_rejections=trajectory.critic_rejections if trajectory else 0,
        accepted_faults=[s.accepted.metadata.get("fault", NO_FAULT) if s.accepted else "missing" for s in steps],
        attempt_faults=[a.metadata.get("fault", NO_FAULT) for s in steps for a in s.attempts],
        execution=bridge_result.execution, failure=bridge_result.failure, seconds=bridge_result.seconds,
        env_steps=bridge_result.env_steps, planner=config.planner, generator=config.generator,
        critic=config.critic_name, loop=config.loop,
        replans=len(trajectory.metadata.get("replans", [])) if trajectory else 0, trajectory=trajectory,
        final_image=bridge_result.final_image, initial_image=bridge_result.initial_image)


def summary_lines(result, config, transport: str) -> list[str]:
    """The `demo` summary (same lines, from sim_envs.demo_cmd) plus where the messages went."""
    from interleave_robot.sim_envs.demo_cmd import _agents_line, _step_lines

    lines = [f"task:    {result.task}", f"family:  {result.family}   seed: {result.seed}   {_agents_line(config)}"]
    if result.trajectory is not None:
        lines += _step_lines(result)
    lines += [f"result:  {'SUCCESS' if result.success else 'FAILURE'}"
              + ("" if result.success else f" - {result.failure}"),
              f"steps: {result.steps}   generator calls: {result.generator_calls}   "
              f"critic rejections: {result.critic_rejections}   re-plans: {result.replans}   "
              f"time: {result.seconds:.1f} s",
              f"transport: {transport} (ROS 2 topics on 127.0.0.1)"]
    return lines


def agents_config(config):
    """The guidance node's AgentsConfig for an EpisodeConfig: the same backends with the same
    options as `demo` builds them (EpisodeConfig.backend_options), so the same seed gives the
    same plan, attempts, verdicts and outcome."""
    from interleave_robot.cli.agent_args import NO_CRITIC
    from interleave_robot.ros_nodes.node_setup import AgentsConfig

    critic = "" if config.critic_name == NO_CRITIC else config.critic_name
    return AgentsConfig(
        planner=config.planner, planner_options=config.backend_options("planner"),
        generator=config.generator, generator_options=config.backend_options("generator"),
        critic=critic, critic_options=config.backend_options("critic") if critic else {},
        pipeline={"max_attempts_per_step": config.max_attempts_per_step, "use_critic": bool(critic),
                  "seed": config.seed, "max_replans": config.max_replans})


def run(args: argparse.Namespace) -> int:
    from interleave_robot.sim_envs.demo_cmd import episode_config
    from interleave_robot.sim_envs.rendering import import_mujoco
    from interleave_robot.ros_nodes.guidance_logic import GuidanceLogic, GuidanceNodeConfig
    from interleave_robot.ros_nodes.node_setup import close_pipeline
    from interleave_robot.ros_nodes.recording import BagRecorder, guidance_topics
    from interleave_robot.ros_nodes.sim_bridge import SimBridge, SimBridgeConfig
    from interleave_robot.ros_nodes.transport_dds import DDSConfig, DDSTransport

    # The demo's own options and validation (family, backends, loop, ...), with its messages.
    config = episode_config(args)
    if config.execution_noise:
        raise ConfigError("--execution-noise is not supported by ros-demo yet (the sim bridge does not disturb "
                          "the scene); use `demo`")
    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {args.timeout}")
    agents = agents_config(config)
    import_mujoco()  # a missing GL backend fails here, with its one-line message
    domain_id = args.domain_id if args.domain_id is not None else 1 + os.getpid() % 200
    dds = DDSConfig(domain_id=domain_id, loopback=True)
    context_topic = "/interleave/sim/context"
    print(f"ros-demo: {config.family} task, seed {config.seed}, planner {config.planner}, generator "
          f"{config.generator}, critic {config.critic_name}, loop {config.loop}, DDS domain {domain_id} on "
          "127.0.0.1 ...", file=sys.stderr)
    node_side, robot_side = DDSTransport(dds), DDSTransport(dds)
    recorder = bridge = logic = None
    try:
        if args.record:
            recorder = BagRecorder(args.record)
            recorder.record(robot_side, guidance_topics(subgoal_messages=True))
        logic = GuidanceLogic(node_side, agents.build(node_side, "sim"),
                              GuidanceNodeConfig(context_topic=context_topic, state_codec="sim", loop=config.loop,
                                                 subgoal_topic="/interleave/subgoal", frame_wait_s=30.0,
                                                 step_timeout_s=args.timeout)).start()
        bridge = SimBridge(robot_side, SimBridgeConfig(family=config.family, seed=config.seed,
                                                       steps=config.steps or 0, image_size=config.image_size,
                                                       context_topic=context_topic, step_timeout_s=args.timeout))
        t0 = time.perf_counter()
        outcome = bridge.run_episode()
        logic.wait_idle(args.timeout)
        result = _episode_result(config, outcome, logic.last_trajectory)
        result.seconds = time.perf_counter() - t0
    finally:
        if logic is not None:
            logic.close()
            close_pipeline(logic.pipeline)  # frees the sim generator's GL context before exit
        if recorder is not None:
            recorder.close()
        if bridge is not None:
            bridge.close()
        robot_side.close()
        node_side.close()
    lines = summary_lines(result, config, args.transport)
    if recorder is not None:
        lines.append(f"bag:     {args.record} ({sum(recorder.counts.values())} messages, MCAP)")
    print("\n".join(lines))
    return 0

"""Closed loop in simulation over DDS: `ros-demo` gives the same episode as `demo`."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import re  # noqa: E402

import pytest  # noqa: E402

from interleave_robot.cli import main  # noqa: E402

pytestmark = pytest.mark.dds  # DDS on loopback, inside the test network namespace


def _detail(text: str) -> list[str]:
    """The summary without the lines that differ by design (time, run dir, transport, bag)."""
    keep = []
    for line in text.splitlines():
        if line.startswith(("run dir:", "report:", "transport:", "bag:")):
            continue
        keep.append(re.sub(r"time: [0-9.]+ s", "time: _", line))
    return keep


def reference_episode(**options):
    from interleave_robot.sim_envs.episode import EpisodeConfig, EpisodeRunner

    with EpisodeRunner() as runner:
        return runner.run(EpisodeConfig(**options))


def expected_lines(reference) -> list[str]:
    from interleave_robot.sim_envs.demo_cmd import _step_lines

    return [*_step_lines(reference), f"result:  {'SUCCESS' if reference.success else 'FAILURE'}"
            + ("" if reference.success else f" - {reference.failure}"),
            f"steps: {reference.steps}   generator calls: {reference.generator_calls}   "
            f"critic rejections: {reference.critic_rejections}   re-plans: {reference.replans}"]


@pytest.mark.parametrize("loop", ["closed", "open"])
def test_ros_demo_matches_demo_in_either_loop(loop, capsys):
    """The same seed gives the same attempts, faults, verdicts, executor outcomes and re-plans."""
    assert main(["ros-demo", "--task", "sort", "--seed", "1", "--steps", "2", "--loop", loop]) == 0
    out = capsys.readouterr().out
    for line in expected_lines(reference_episode(family="sort", seed=1, steps=2, loop=loop)):
        assert line in out, (line, out)


def test_ros_demo_takes_demo_backend_options(capsys):
    assert main(["ros-demo", "--task", "stack", "--seed", "2", "--steps", "1", "--critic", "none",
                 "--generator-opt", "fault_rate=0"]) == 0
    out = capsys.readouterr().out
    assert "critic: none" in out
    reference = reference_episode(family="stack", seed=2, steps=1, critic="none", generator_options={"fault_rate": "0"})
    for line in expected_lines(reference):
        assert line in out, (line, out)


def test_ros_demo_matches_demo_and_records_a_bag(tmp_path, capsys):
    from interleave_robot.ros_nodes.recording import read_bag
    from interleave_robot.sim_envs.demo_cmd import _step_lines

    bag = tmp_path / "bag"
    assert main(["ros-demo", "--transport", "dds", "--task", "stack", "--seed", "0", "--steps", "2",
                 "--record", str(bag)]) == 0
    out = capsys.readouterr().out
    reference = reference_episode(family="stack", seed=0, steps=2)
    assert f"result:  {'SUCCESS' if reference.success else 'FAILURE'}" in out
    assert (f"steps: {reference.steps}   generator calls: {reference.generator_calls}   "
            f"critic rejections: {reference.critic_rejections}") in out
    # Step by step: the same attempts, faults, verdicts and executor outcomes as the demo.
    assert "\n".join(_step_lines(reference)) in out
    assert "transport: dds" in out
    topics = {}
    for topic, msgtype, _, _ in read_bag(bag):
        topics[topic] = msgtype
    assert topics["/interleave/subgoal/image"] == "sensor_msgs/msg/Image"
    assert topics["/camera/image_raw"] == "sensor_msgs/msg/Image"
    assert {"/interleave/plan", "/interleave/subgoal/text", "/interleave/status"} <= set(topics)
    assert topics["/interleave/subgoal"] == "interleave_robot_interfaces/msg/Subgoal"


@pytest.mark.parametrize("argv, words", [
    (["--task", "juggle"], "unknown task family"),
    (["--fault-rate", "2"], "fault_rate"),
    (["--domain-id", "999"], "domain_id"),
    (["--planner", "nope"], "nope"),
    (["--execution-noise", "0.01"], "not supported by ros-demo"),
])
def test_ros_demo_bad_options_are_one_line_errors(argv, words, capsys):
    assert main(["ros-demo", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err

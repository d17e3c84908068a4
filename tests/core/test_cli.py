"""`interleave-robot run` and `report`: success, resume, and one-line errors for bad input."""
import json
import subprocess
import sys

import pytest

from interleave_robot.cli import main
from interleave_robot.cli.run_cmd import REDACTED, _recordable
from interleave_robot.images import save_png
from interleave_robot.store import TRAJECTORY, RunStore

STEPS_OPT = "steps=pick up the red block,place it on the blue block"


@pytest.fixture
def image_path(tmp_path, image):
    return str(save_png(image, tmp_path / "scene.png"))


def _run(image_path, out, *extra):
    return main(["run", "--image", image_path, "--task", "stack red on blue", "--planner", "static",
                 "--planner-opt", STEPS_OPT, "--generator", "echo", "--critic", "always", "--out", str(out),
                 "--no-progress", *extra])


def test_run_writes_run_dir_and_report(tmp_path, image_path, capsys):
    out = tmp_path / "run"
    assert _run(image_path, out, "--critic-opt", "reject_first=1", "--seed", "3", "--max-attempts", "4") == 0
    stdout = capsys.readouterr().out
    assert "done: 2 steps, 4 generator calls, 2 critic rejections, 0 flagged" in stdout
    assert (out / "report.html").is_file()
    info = json.loads((out / "run.json").read_text())
    assert info["meta"]["backends"]["critic"] == {"name": "always", "options": {"reject_first": "1"}}
    assert info["meta"]["pipeline"]["seed"] == 3 and info["meta"]["pipeline"]["max_attempts_per_step"] == 4
    assert main(["report", str(out), "--out", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_text().startswith("<!DOCTYPE html>")


def test_progress_lines_and_no_critic(tmp_path, image_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--image", image_path, "--task", "t", "--planner", "static", "--planner-opt", STEPS_OPT,
                 "--generator", "echo", "--critic", "none", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "plan: 2 steps" in captured.err and "step 2/2 accepted (attempt 1)" in captured.err
    assert "2 generator calls, 0 critic rejections" in captured.out


def test_timeout_flag_and_cap(tmp_path, image_path, capsys):
    out = tmp_path / "run"
    assert _run(image_path, out, "--generator-opt", "hang_calls=0", "--generator-opt", "hang_s=2",
                "--timeout", "0.1", "--max-generator-calls", "2") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generator_calls"] == 2 and summary["flagged_steps"] == [2]
    attempts = [r for r in map(json.loads, (out / TRAJECTORY).read_text().splitlines()) if r["type"] == "attempt"]
    assert "did not answer within 0.1 s" in attempts[0]["error"]


def test_resume_after_interruption(tmp_path, image_path, capsys):
    out = tmp_path / "run"
    assert _run(image_path, out, "--critic-opt", "reject_first=1") == 0
    log = out / TRAJECTORY
    lines = log.read_text().splitlines(keepends=True)
    first_step = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "step")
    log.write_text("".join(lines[:first_step + 2]))  # as if killed during step 2
    capsys.readouterr()
    assert main(["run", "--resume", "--out", str(out)]) == 0
    assert "done: 2 steps, 4 generator calls, 2 critic rejections" in capsys.readouterr().out
    assert RunStore.load(out).finished


@pytest.mark.parametrize("args, message", [
    (["--image", "{tmp}/missing.png"], "image file not found"),
    (["--image", "{tmp}/corrupt.png"], "cannot be decoded"),
    (["--generator", "dall-e"], "unknown generator backend 'dall-e'; choose one of"),
    (["--critic", "nobody"], "unknown critic backend 'nobody'"),
    (["--planner-opt", "colour=red"], "unknown option(s) colour"),
    (["--planner-opt", "novalue"], "not of the form key=value"),
    (["--planner-opt", "plan_file={tmp}/nope.json"], "plan_file not found"),
    (["--max-attempts", "0"], "max_attempts_per_step must be an integer >= 1"),
    (["--generator", "diffusers", "--generator-opt", "model={tmp}/no_checkpoint"], "not found"),
    (["--planner", "vlm", "--planner-opt", "model={tmp}/no_checkpoint"], "not found"),
    (["--task", ""], "--task required"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, image_path, capsys, args, message):
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    base = {"--image": image_path, "--task": "t", "--planner": "static", "--planner-opt": STEPS_OPT,
            "--generator": "echo", "--critic": "always"}
    argv = ["run", "--out", str(tmp_path / "run"), "--no-progress"]
    given = dict(zip(args[::2], args[1::2]))
    for flag, value in {**base, **given}.items():
        argv += [flag, value.format(tmp=tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_run_refuses_existing_run_and_missing_resume(tmp_path, image_path, capsys):
    assert _run(image_path, tmp_path / "run") == 0
    assert _run(image_path, tmp_path / "run") == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["run", "--resume", "--out", str(tmp_path / "nothing")]) == 2
    assert main(["run", "--resume", "--out", str(tmp_path / "run"), "--image", image_path]) == 2
    assert main(["run", "--resume", "--out", str(tmp_path / "run"), "--task", "another task"]) == 2
    assert "drop --image" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_planner_out_of_format_exits_1(tmp_path, image_path, capsys):
    # A model's answers out of format fail the run (exit 1); a bad plan *file* is a user error (exit 2, see
    # test_cli_hardening).
    assert main(["run", "--image", image_path, "--task", "t", "--planner", "static", "--planner-opt",
                 "answers=<think>hmm</think><answer>{'steps': 'all of them'}</answer>", "--generator", "echo",
                 "--critic", "always", "--out", str(tmp_path / "r"), "--no-progress"]) == 1
    assert "failed: planner: no answer in format after 3 tries" in capsys.readouterr().out
    assert (tmp_path / "r" / "report.html").is_file()


def test_secret_options_are_not_recorded():
    spec = {"critic": {"name": "vlm", "options": {"api_key": "sk-123", "model": "m", "auth_token": "x"}}}
    assert _recordable(spec)["critic"]["options"] == {"api_key": REDACTED, "model": "m", "auth_token": REDACTED}


def test_console_entry_point_errors_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "interleave_robot", "run", "--image", str(tmp_path / "x.png"),
                           "--task", "t", "--planner", "static", "--generator", "echo", "--critic", "none",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"interleave-robot run: error: image file not found: {tmp_path / 'x.png'}"]
    for command in (["run", "--help"], ["report", "--help"]):
        help_proc = subprocess.run([sys.executable, "-m", "interleave_robot", *command], capture_output=True,
                                   text=True, timeout=60)
        assert help_proc.returncode == 0 and "usage: interleave-robot" in help_proc.stdout


@pytest.mark.parametrize("bar", [False, True])
def test_progress_listener_modes(observation, bar):
    import io

    from interleave_robot.progress import ProgressListener

    from .conftest import make_pipeline

    stream = io.StringIO()
    make_pipeline(critic={"reject_first": 1}, generator={"fail_calls": [0]}).run(
        "t", observation, listeners=[ProgressListener(stream=stream, bar=bar)])
    text = stream.getvalue()
    if bar:
        assert "3/3" in text  # tqdm's counter reached the end
    else:
        assert "failed: generator: echo generator: injected failure on call 0" in text
        assert "rejected -> 'pick up the red block [refined]'" in text
        assert text.strip().splitlines()[-1] == "done: 3 steps, 7 generator calls, 3 rejections, 0 flagged"

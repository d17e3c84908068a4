"""The CLI's promise (one line on stderr, exit 2) for every error a user can cause, I/O included (issue 8, 10, 11, 16).

Read-only and full disks are real: a tmpfs mounted in a private mount namespace
(`unshare -m`, root as in CI); those tests skip where mounting is not permitted.
"""
from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from interleave_robot.cli import main
from interleave_robot.images import save_png
from interleave_robot.store import TRAJECTORY

STEPS_OPT = "steps=pick up the red block,place it on the blue block"


@pytest.fixture
def image_path(tmp_path, image):
    return str(save_png(image, tmp_path / "scene.png"))


def run_args(image_path, out, *extra):
    return ["run", "--image", image_path, "--task", "stack red on blue", "--planner", "static", "--planner-opt",
            STEPS_OPT, "--generator", "echo", "--critic", "always", "--out", str(out), "--no-progress", *extra]


def one_line_error(capsys, code, expected: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0], (code, captured.err)
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("content, message", [
    (b"", "the answer is empty"),
    (b"{not json at all", "neither JSON nor a Python literal"),
    (b'{"execution_plan": []}', "no steps"),
    (b"\xff\xfe\x00\x01binary", "not UTF-8"),
    (b"[" + b'{"instruction": "a", "prompt": "b"},' * 700_000 + b"]", "byte bound"),  # ~25 MB
])
def test_bad_static_plan_file_is_refused_at_start_up(tmp_path, image_path, capsys, content, message):
    plan = tmp_path / "plan.json"
    plan.write_bytes(content)
    out = tmp_path / "run"
    code = main(["run", "--image", image_path, "--task", "t", "--planner", "static", "--planner-opt",
                 f"plan_file={plan}", "--generator", "echo", "--critic", "always", "--out", str(out), "--no-progress"])
    assert "plan_file" in one_line_error(capsys, code, message)
    assert not (out / "run.json").exists() and not (out / TRAJECTORY).exists()


def test_good_static_plan_file_in_the_released_shape(tmp_path, image_path, capsys):
    plan = tmp_path / "plan.txt"
    plan.write_text("<think>t</think><answer>{'execution_plan': [{'step_number': 1, 'step_name': 'a', "
                    "'instruction': 'do a', 'prompt': 'do a', 'auxiliary_text': None}]}</answer>")
    assert main(["run", "--image", image_path, "--task", "t", "--planner", "static", "--planner-opt",
                 f"plan_file={plan}", "--generator", "echo", "--critic", "always", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0


def test_every_generator_call_failing_exits_1_and_says_so(tmp_path, image_path, capsys):
    out = tmp_path / "run"
    code = main(run_args(image_path, out, "--generator-opt", "fail_calls=0,1,2,3,4,5", "--max-attempts", "2"))
    stdout = capsys.readouterr().out
    assert code == 1 and "failed: every generator call failed (4 calls)" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["all_generator_calls_failed"] is True and summary["generator_failures"] == 4
    # One call succeeding is a run that finished (flagged), exit 0.
    code = main(run_args(image_path, tmp_path / "run2", "--generator-opt", "fail_calls=0,1,2", "--max-attempts", "2"))
    assert code == 0
    summary = json.loads((tmp_path / "run2" / "summary.json").read_text())
    assert summary["all_generator_calls_failed"] is False and summary["generator_failures"] == 3


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e30"])
def test_serve_generator_max_request_mb_is_validated(capsys, value):
    code = main(["serve-generator", "--generator", "echo", "--max-request-mb", value])
    one_line_error(capsys, code, "--max-request-mb")


@pytest.mark.parametrize("flag, value, message", [
    ("--max-connections", "0", "max_connections"), ("--max-concurrent", "-3", "max_concurrent_requests"),
    ("--request-timeout", "nan", "request_timeout_s"), ("--header-timeout", "-1", "header_timeout_s"),
])
def test_serve_generator_limits_are_validated(capsys, flag, value, message):
    code = main(["serve-generator", "--generator", "echo", flag, value])
    one_line_error(capsys, code, message)


def test_serve_generator_refuses_the_sim_generator(capsys):
    pytest.importorskip("mujoco")
    code = main(["serve-generator", "--generator", "sim", "--port", "0"])
    one_line_error(capsys, code, "needs simulator state")


def test_binary_training_config_is_one_line(tmp_path, capsys):
    pytest.importorskip("yaml")
    config = tmp_path / "recipe.yaml"
    config.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00" * 10)
    code = main(["train", "sft", "--config", str(config)])
    one_line_error(capsys, code, "not UTF-8 text")


def test_disk_full_while_writing_the_report(tmp_path, image_path, capsys, monkeypatch):
    original = Path.write_text

    def full(self, *args, **kwargs):
        if self.name == "report.html":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "run"
    line = one_line_error(capsys, main(run_args(image_path, out)), "No space left on device")
    assert str(out / "report.html") in line
    assert json.loads((out / "summary.json").read_text())["finished"]  # the run itself is on disk
    line = one_line_error(capsys, main(["report", str(out)]), "No space left on device")


def test_report_out_is_a_directory(tmp_path, image_path, capsys):
    out = tmp_path / "run"
    assert main(run_args(image_path, out)) == 0
    capsys.readouterr()
    one_line_error(capsys, main(["report", str(out), "--out", str(tmp_path)]), "Is a directory")


# --- real read-only and full file systems (tmpfs in a private mount namespace) ---
_MOUNT_OK = None


def _can_mount() -> bool:
    global _MOUNT_OK
    if _MOUNT_OK is None:
        probe = "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d"
        _MOUNT_OK = shutil.which("unshare") is not None and subprocess.run(
            ["unshare", "-m", "sh", "-c", probe], capture_output=True, timeout=30).returncode == 0
    return _MOUNT_OK


def in_mount_namespace(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-m", "sh", "-ec", script], capture_output=True, text=True, timeout=180)


def cli(*args: str) -> str:
    return " ".join([sys.executable, "-m", "interleave_robot", *(f"'{a}'" for a in args)])


@pytest.fixture
def mountable():
    if not _can_mount():
        pytest.skip("cannot mount a tmpfs here (needs root and unshare -m)")


def _expect_one_line(proc_text: str, tag: str, message: str) -> None:
    """The script prints 'TAG rc=N' then the command's stderr between markers."""
    block = proc_text.split(f"<<{tag}>>")[1].split(f"<</{tag}>>")[0].strip().splitlines()
    assert block[0] == "rc=2", (tag, block)
    assert len(block) == 2 and message in block[1] and "Traceback" not in proc_text, (tag, block)


def _capture(tag: str, command: str) -> str:
    return (f"set +e; {command} 2>/tmp/err_{tag} >/dev/null; rc=$?; set -e; "
            f"echo '<<{tag}>>'; echo rc=$rc; cat /tmp/err_{tag}; echo '<</{tag}>>'\n")


def test_read_only_run_directory_resume_and_report(tmp_path, image_path, mountable):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = mnt / "run"
    cut = ("python3 - <<'EOF'\nimport json, pathlib\n"
           f"log = pathlib.Path('{out / TRAJECTORY}')\nlines = log.read_text().splitlines(keepends=True)\n"
           "first = next(i for i, l in enumerate(lines) if json.loads(l)['type'] == 'step')\n"
           "log.write_text(''.join(lines[:first + 2]))\nEOF\n")
    script = (f"mount -t tmpfs -o size=8m tmpfs {mnt}\n"
              f"{cli(*run_args(image_path, out, '--critic-opt', 'reject_first=1'))} >/dev/null 2>&1\n"
              + cut + f"mount -o remount,ro {mnt}\n"
              + _capture("resume", cli("run", "--resume", "--out", str(out), "--no-progress"))
              + _capture("report", cli("report", str(out)))
              + _capture("newrun", cli(*run_args(image_path, mnt / "other"))))
    proc = in_mount_namespace(script)
    assert proc.returncode == 0, proc.stderr
    _expect_one_line(proc.stdout, "resume", "Read-only file system")
    _expect_one_line(proc.stdout, "report", "Read-only file system")
    _expect_one_line(proc.stdout, "newrun", "Read-only file system")


def test_disk_full_then_resume_after_space_is_freed(tmp_path, mountable):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    big = tmp_path / "big.png"
    import numpy as np

    save_png(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8), big)  # ~200 KB per image
    out = mnt / "run"
    args = ["run", "--image", str(big), "--task", "t", "--planner", "static", "--planner-opt",
            "steps=a,b,c,d,e,f", "--generator", "echo", "--critic", "always", "--out", str(out), "--no-progress"]
    script = (f"mount -t tmpfs -o size=900k tmpfs {mnt}\n"
              + _capture("full", cli(*args))
              + f"mount -o remount,size=16m {mnt}\n"
              + f"{cli('run', '--resume', '--out', str(out), '--no-progress')}\n"
              + f"python3 -c \"import json; print('summary', json.load(open('{out}/summary.json'))['finished'])\"\n")
    proc = in_mount_namespace(script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _expect_one_line(proc.stdout, "full", "No space left on device")
    assert "done: 6 steps" in proc.stdout and "summary True" in proc.stdout


def test_decompression_bomb_image_is_one_line(tmp_path, capsys):
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (16384, 16384)).save(bomb)  # ~48 KB; Pillow's DecompressionBombError used to escape
    one_line_error(capsys, main(run_args(str(bomb), tmp_path / "run")), "too large")


def test_deeply_nested_vlm_options_are_one_line(tmp_path, image_path, capsys):
    code = main(["run", "--image", image_path, "--task", "t", "--planner", "vlm", "--planner-opt",
                 "vlm_options=" + "[" * 100_000, "--generator", "echo", "--critic", "none", "--out", str(tmp_path / "r")])
    one_line_error(capsys, code, "nested too deeply")

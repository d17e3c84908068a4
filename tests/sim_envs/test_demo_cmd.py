"""`interleave-robot demo`: the main job, as a user runs it."""
import ctypes.util
import json
import os
import subprocess
import sys

import pytest

from interleave_robot.cli import main


def test_demo_writes_the_run_dir_report_and_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "2", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    for key in ("task", "seed", "success", "steps", "generator_calls", "critic_rejections"):
        assert key in summary, key
    assert summary["steps"] == 2 and summary["seed"] == 1 and summary["generator_calls"] >= 2
    assert summary["extra"]["family"] == "stack" and len(summary["extra"]["execution"]) >= 1
    html = (out / "report.html").read_text()
    assert "Camera image" in html and "Final scene" in html and html.count("<img") >= 4
    assert (out / "plan.json").is_file() and (out / "trajectory.jsonl").is_file()
    assert ("SUCCESS" in printed) == summary["success"] and str(out) in printed
    assert len(printed.splitlines()) < 40  # one screen

    # A second demo into the same --out never overwrites the first run.
    assert main(["demo", "--out", str(out), "--steps", "1", "--no-critic", "--task", "line", "--fault-rate", "0"]) == 0
    second = json.loads((tmp_path / "demo-2" / "summary.json").read_text())
    assert second["extra"]["critic"] is False and second["critic_rejections"] == 0 and second["success"]


def test_bad_options_end_with_one_line(tmp_path, capsys):
    assert main(["demo", "--task", "juggle", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("interleave-robot demo: error: unknown task family 'juggle'")
    assert main(["demo", "--fault-rate", "2", "--out", str(tmp_path / "y")]) == 2
    assert "fault_rate" in capsys.readouterr().err


def test_missing_rendering_backend_names_the_fix(tmp_path):
    if ctypes.util.find_library("OSMesa") is not None:
        pytest.skip("this machine has OSMesa: MUJOCO_GL=osmesa works, so the missing-backend message cannot be shown")
    env = {**os.environ, "MUJOCO_GL": "osmesa", "PYOPENGL_PLATFORM": "osmesa"}
    proc = subprocess.run([sys.executable, "-m", "interleave_robot", "demo", "--out", str(tmp_path / "d")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "MUJOCO_GL" in proc.stderr and "libosmesa6" in proc.stderr and "libegl1" in proc.stderr
    assert not (tmp_path / "d").exists()

"""`interleave-robot bench`: rows per configuration, outputs, worker processes, resume, seeds, agents."""
import json
import subprocess
import sys

import pytest

from interleave_robot.cli import main


def test_bench_rows_outputs_and_resume(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "--tasks", "pick_place", "--episodes", "2", "--fault-rates", "0,0.5", "--critic", "on,off",
            "--workers", "2", "--steps", "1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    assert [(r["fault_rate"], r["critic"]) for r in rows] == [(0.0, "perception"), (0.0, "none"),
                                                               (0.5, "perception"), (0.5, "none")]
    for r in rows:
        assert r["task"] == "pick_place" and r["episodes"] == 2 and 0.0 <= r["success_rate"] <= 1.0
        assert r["generator_calls_per_step"] >= 1.0 and r["errors"] == 0
        assert (r["planner"], r["generator"], r["loop"]) == ("teacher", "sim", "closed")
        assert r["judge_images"] >= 2 and 0.0 <= r["judge_right_share"] <= 1.0 and 0.0 <= r["judge_agreement"] <= 1.0
    assert all(r["generator_calls_per_step"] == 1.0 for r in rows if r["critic"] == "none")
    on = [r for r in rows if r["critic"] == "perception"]
    assert all(0.0 <= r["mcnemar_p_vs_no_critic"] <= 1.0 and r["paired_vs_no_critic"]["pairs"] == 2 for r in on)
    for name in ("results.csv", "report.md", "success_vs_fault_rate.png", "critic_on_vs_off.png"):
        assert (out / name).stat().st_size > 0, name
    assert "success [95% CI]" in capsys.readouterr().out
    episodes = (out / "episodes.jsonl").read_text().splitlines()
    assert len(episodes) == 8
    assert sorted({json.loads(e)["seed"] for e in episodes}) == [0, 1]

    # An interrupted bench: a cut last line and missing episodes; the re-run only does what is missing.
    kept = episodes[:5] + [episodes[5][:40]]
    (out / "episodes.jsonl").write_text("\n".join(kept) + "\n")
    assert main(argv[:-1] + ["--workers", "1", "--no-progress"]) == 0
    lines = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines() if x.endswith("}")]
    def same(r):  # the outcome, not the wall-clock time
        return {k: v for k, v in r.items() if k != "seconds_per_episode"}

    again = json.loads((out / "results.json").read_text())
    assert len(lines) == 8 and [same(r) for r in again] == [same(r) for r in rows]


def test_seed_option_offsets_every_episode(tmp_path):
    out = tmp_path / "held_out"
    assert main(["bench", "--tasks", "line", "--episodes", "2", "--seed", "5000", "--fault-rates", "0",
                 "--critic", "none", "--steps", "1", "--workers", "1", "--out", str(out), "--no-progress"]) == 0
    rows = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in rows) == [5000, 5001]
    # the same layouts as a demo with that seed: the task text is the seed's
    from interleave_robot.sim_envs.episode import EpisodeConfig, EpisodeRunner

    with EpisodeRunner() as runner:
        direct = runner.run(EpisodeConfig(family="line", seed=5001, steps=1, fault_rate=0.0, critic="none"))
    assert next(r for r in rows if r["seed"] == 5001)["task_text"] == direct.task


def test_failing_generator_is_counted_and_the_bench_goes_on(tmp_path):
    out = tmp_path / "bad_gen"
    assert main(["bench", "--tasks", "stack", "--episodes", "1", "--fault-rates", "0", "--critic", "none",
                 "--generator", "tests.sim_envs.sim_backends:WrongSizeGenerator", "--steps", "2", "--workers", "1",
                 "--out", str(out), "--no-progress"]) == 0
    row = json.loads((out / "results.json").read_text())[0]
    assert row["generator"] == "tests.sim_envs.sim_backends:WrongSizeGenerator" and row["success_rate"] == 0.0
    assert row["generator_errors"] >= 3 and row["errors"] == 0
    episode = json.loads((out / "episodes.jsonl").read_text().splitlines()[0])
    assert "64x64 image, the camera frame is 128x128" in episode["failure"]


@pytest.mark.parametrize("argv, message", [
    (["--critic", "maybe"], "unknown critic backend 'maybe'"),
    (["--tasks", "juggle"], "unknown task family"),
    (["--generator", "no_such_pkg.gen:MyGenerator"], "generator backend 'no_such_pkg.gen:MyGenerator' cannot be imported"),
    (["--planner", "oracle"], "unknown planner backend 'oracle'"),
    (["--loop", "sideways"], "loop must be one of closed, open"),
    (["--workers", "many"], "--workers must be a number of processes or 'ray'"),
    (["--seed", "-1"], "--seed must be >= 0"),
])
def test_bad_bench_options_one_line_exit_2(tmp_path, argv, message):
    proc = subprocess.run([sys.executable, "-m", "interleave_robot", "bench", *argv, "--out", str(tmp_path / "b"),
                           "--no-progress"], capture_output=True, text=True, timeout=120)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and message in err[0] and "Traceback" not in proc.stderr, proc.stderr

"""`interleave-robot bench`: rows per configuration, outputs, worker processes, resume."""
import json

from interleave_robot.cli import main


def test_bench_rows_outputs_and_resume(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "--tasks", "pick_place", "--episodes", "2", "--fault-rates", "0,0.5", "--critic", "on,off",
            "--workers", "2", "--steps", "1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    assert [(r["fault_rate"], r["critic"]) for r in rows] == [(0.0, "on"), (0.0, "off"), (0.5, "on"), (0.5, "off")]
    for r in rows:
        assert r["task"] == "pick_place" and r["episodes"] == 2 and 0.0 <= r["success_rate"] <= 1.0
        assert r["generator_calls_per_step"] >= 1.0 and r["errors"] == 0
    assert all(r["generator_calls_per_step"] == 1.0 for r in rows if r["critic"] == "off")
    for name in ("results.csv", "report.md", "success_vs_fault_rate.png", "critic_on_vs_off.png"):
        assert (out / name).stat().st_size > 0, name
    assert "success [95% CI]" in capsys.readouterr().out
    episodes = (out / "episodes.jsonl").read_text().splitlines()
    assert len(episodes) == 8

    # An interrupted bench: a cut last line and missing episodes; the re-run only does what is missing.
    kept = episodes[:5] + [episodes[5][:40]]
    (out / "episodes.jsonl").write_text("\n".join(kept) + "\n")
    assert main(argv[:-1] + ["--workers", "1", "--no-progress"]) == 0
    lines = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines() if x.endswith("}")]
    def same(r):  # the outcome, not the wall-clock time
        return {k: v for k, v in r.items() if k != "seconds_per_episode"}

    again = json.loads((out / "results.json").read_text())
    assert len(lines) == 8 and [same(r) for r in again] == [same(r) for r in rows]


def test_bad_bench_options(tmp_path, capsys):
    assert main(["bench", "--critic", "maybe", "--out", str(tmp_path)]) == 2
    assert main(["bench", "--tasks", "juggle", "--out", str(tmp_path)]) == 2
    assert "unknown task family" in capsys.readouterr().err

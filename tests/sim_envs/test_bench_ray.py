"""`bench --workers ray`: the same rows as local processes for the same seeds (a local Ray instance).
Skipped when the optional `ray` extra is not installed."""
import json

import pytest

ray = pytest.importorskip("ray")

from interleave_robot.cli import main  # noqa: E402

OUTCOME = ("seed", "success", "failure", "steps", "generator_calls", "critic_rejections", "accepted_faults",
           "attempt_faults", "judge", "replans", "task_text")


def _rows(out):
    rows = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    return sorted(({k: r[k] for k in OUTCOME} for r in rows), key=lambda r: r["seed"])


def test_ray_gives_the_same_rows_as_local_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ACCEPT_HUMAN_READABLE_ENV", "1")
    argv = ["bench", "--tasks", "stack", "--episodes", "2", "--seed", "40", "--fault-rates", "0.3",
            "--critic", "perception", "--steps", "2", "--no-progress"]
    assert main([*argv, "--workers", "1", "--out", str(tmp_path / "local")]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 1024 * 1024)
    try:
        assert main([*argv, "--workers", "ray", "--out", str(tmp_path / "ray")]) == 0
    finally:
        ray.shutdown()
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    assert len(_rows(tmp_path / "ray")) == 2

"""The run directory: what is written, loading, a SIGKILLed run, and resuming it."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from interleave_robot import RunStoreError
from interleave_robot.store import TRAJECTORY, RunStore, read_records

from .conftest import make_pipeline


def test_run_directory_contents_and_load(tmp_path, observation):
    traj = make_pipeline(critic={"reject_first": 1}, generator={"fail_calls": [2]}).run(
        "stack", observation, store=RunStore.create(tmp_path / "run", meta={"who": "test"}))
    root = tmp_path / "run"
    assert {p.name for p in root.iterdir()} >= {"run.json", "observation.png", "plan.json", TRAJECTORY,
                                                 "summary.json", "images"}
    records = read_records(root)
    kinds = [r["type"] for r in records]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("attempt") == traj.generator_calls and kinds.count("step") == 3
    assert json.loads((root / "run.json").read_text())["meta"] == {"who": "test"}
    summary = json.loads((root / "summary.json").read_text())
    assert summary["generator_calls"] == traj.generator_calls == 7
    assert summary["critic_rejections"] == 3 and summary["flagged_steps"] == [] and summary["finished"]
    assert summary["timings"]["total_s"] > 0
    loaded = RunStore.load(root)
    assert loaded.finished and loaded.task.text == "stack" and loaded.plan.to_dict() == traj.plan.to_dict()
    assert [s.to_dict() for s in loaded.steps] == [s.to_dict() for s in traj.steps]
    assert np.array_equal(loaded.observation.image, observation.image)
    for mine, theirs in zip(traj.steps, loaded.steps):
        for a, b in zip(mine.attempts, theirs.attempts):
            assert (a.image is None and b.image is None) or np.array_equal(a.image, b.image)
            assert b.metadata == a.metadata  # generator metadata round-trips (sim re-derives state from it)
    assert (root / "images" / "step1_attempt0.png").is_file()


def test_summary_extra_and_extra_images(tmp_path, observation):
    store = RunStore.create(tmp_path)
    make_pipeline().run("t", observation, store=store)
    later = RunStore.open_existing(tmp_path)
    later.write_summary(extra={"sim": {"success": True}})
    later.write_summary(extra={"executor": 3})
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["extra"] == {"sim": {"success": True}, "executor": 3} and summary["generator_calls"] == 3
    rel = later.save_extra_image("Final scene", observation.image)
    assert later.extra_images() == {"Final scene": rel} and (tmp_path / rel).is_file()


def test_store_refusals(tmp_path, observation):
    make_pipeline().run("t", observation, store=RunStore.create(tmp_path / "a"))
    with pytest.raises(RunStoreError, match="already holds a run"):
        RunStore.create(tmp_path / "a")
    with pytest.raises(RunStoreError, match="no run"):
        RunStore.open_for_resume(tmp_path / "empty")
    with pytest.raises(RunStoreError, match="no run"):
        RunStore.load(tmp_path / "empty")
    with pytest.raises(RunStoreError, match="is a run of task"):
        make_pipeline().run("other task", observation, store=RunStore.open_for_resume(tmp_path / "a"))


def _cut_log(root, keep_steps: int, extra_attempts: int = 0, torn: bool = True) -> None:
    """Rewrite the log as a process killed after `keep_steps` steps (plus some attempts) leaves it."""
    lines = (root / TRAJECTORY).read_text().splitlines(keepends=True)
    out, steps, attempts_after = [], 0, 0
    for line in lines:
        kind = json.loads(line)["type"]
        if steps == keep_steps and (kind != "attempt" or attempts_after == extra_attempts):
            break
        out.append(line)
        steps += kind == "step"
        attempts_after += kind == "attempt" and steps == keep_steps
    (root / TRAJECTORY).write_text("".join(out) + ('{"type": "attem' if torn else ""))


def test_resume_reproduces_uninterrupted_run(tmp_path, observation):
    full = make_pipeline(critic={"reject_first": 1}).run("t", observation, store=RunStore.create(tmp_path / "full"))
    root = tmp_path / "cut"
    make_pipeline(critic={"reject_first": 1}).run("t", observation, store=RunStore.create(root))
    _cut_log(root, keep_steps=1, extra_attempts=1)
    partial = RunStore.load(root)  # a killed run is readable, its unfinished step shown as interrupted
    assert not partial.finished and len(partial.steps) == 2
    assert partial.steps[1].flag_reason.startswith("interrupted") and len(partial.steps[1].attempts) == 1
    pipe = make_pipeline(critic={"reject_first": 1})
    resumed = pipe.run("t", observation, store=RunStore.open_for_resume(root))
    assert resumed.finished and resumed.metadata["resumed_steps"] == 1
    assert pipe.generator.calls == 4  # steps 2 and 3 only; the plan and step 1 were reused
    for a, b in zip(full.steps, resumed.steps):
        assert np.array_equal(a.accepted.image, b.accepted.image) and a.accepted.seed == b.accepted.seed
    for line in (root / TRAJECTORY).read_text().splitlines():
        json.loads(line)  # the torn line was cut before appending, so every record parses
    loaded = RunStore.load(root)
    assert loaded.finished and [s.to_dict() for s in loaded.steps] == [s.to_dict() for s in resumed.steps]


_KILLED_RUN = textwrap.dedent("""
    import sys
    import numpy as np
    from interleave_robot.store import RunStore
    from tests.core.conftest import make_pipeline
    from interleave_robot.types import Observation
    image = np.random.default_rng(0).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    pipe = make_pipeline(critic={"reject_first": 1}, generator={"sleep_s": 0.2})
    pipe.run("stack", Observation(image=image), store=RunStore.create(sys.argv[1]))
""")


def test_sigkilled_run_is_readable_and_resumes(tmp_path, observation):
    root = tmp_path / "run"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(root)], cwd=repo)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # kill as soon as step 1 is on disk
            kinds = [r["type"] for r in read_records(root)]
            if "step" in kinds:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed = RunStore.load(root)
    assert not killed.finished and killed.steps[0].accepted is not None and len(killed.steps) < 3
    pipe = make_pipeline(critic={"reject_first": 1})
    traj = pipe.run("stack", observation, store=RunStore.open_for_resume(root))
    assert traj.finished and len(traj.steps) == 3 and traj.metadata["resumed_steps"] >= 1
    assert RunStore.load(root).finished


def test_write_failure_surfaces_as_run_store_error(tmp_path, observation):
    store = RunStore.create(tmp_path / "run")
    (tmp_path / "run" / "images").rmdir()
    (tmp_path / "run" / "images").write_text("a file where the image folder should be")
    with pytest.raises(RunStoreError, match="cannot write the run"):
        make_pipeline().run("t", observation, store=store)
    kinds = [r["type"] for r in read_records(tmp_path / "run")]
    assert kinds == ["start"]  # nothing after the failure: the log stays a consistent prefix


def test_load_refuses_image_paths_outside_the_run(tmp_path, observation):
    make_pipeline(steps=["a"]).run("t", observation, store=RunStore.create(tmp_path / "run"))
    log = tmp_path / "run" / TRAJECTORY
    log.write_text(log.read_text().replace("images/step1_attempt0.png", "../../etc/passwd"))
    with pytest.raises(RunStoreError, match="leaves the run directory"):
        RunStore.load(tmp_path / "run")
    assert RunStore.load(tmp_path / "run", load_images=False).finished

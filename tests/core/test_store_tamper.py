"""Run directories read back after tampering, and resumes that never overwrite an image (issue 8, items 13, 14).

Every JSON value of every run file is replaced by values of the wrong type (and every key
deleted); `RunStore.load`, `write_report` and a resume must then succeed or raise
RunStoreError: never another exception.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from interleave_robot.cli import main
from interleave_robot.errors import RunStoreError
from interleave_robot.report import write_report
from interleave_robot.store import TRAJECTORY, RunStore, read_records

from .conftest import make_pipeline

STRIDE = int(os.environ.get("TAMPER_STRIDE", "3"))  # 1: every case (~25 s)
BAD_VALUES = [None, True, -1, 10 ** 250, 1.5, "x", "../../../etc/passwd", "\x00", [], [1, "a"], {}, {"k": 1}]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, ) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "run"
    image = np.random.default_rng(0).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    from interleave_robot.types import CameraModel, Observation

    observation = Observation(image=image, camera=CameraModel(16, 16, 20.0, 20.0, 8.0, 8.0), metadata={"m": 1})
    pipe = make_pipeline(steps=["a", "b"], critic={"reject_first": 1}, generator={"fail_calls": [1]})
    pipe.run("stack", observation, store=RunStore.create(root))
    RunStore.open_existing(root).save_extra_image("Final", image)
    write_report(root)
    return root


def _paths(value, prefix=()):
    """Every (path, value) inside a JSON value, containers included."""
    yield prefix, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _set(doc, path, value):
    if not path:
        return value
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()


def _mutations(root: Path):
    """(file, line index or None, path, bad value) over run.json, plan.json, summary.json, the log, extras."""
    for name in ("run.json", "plan.json", "summary.json", "extras/index.json"):
        doc = json.loads((root / name).read_text())
        for path, _ in _paths(doc):
            for bad in BAD_VALUES + ([_DELETE] if path else []):
                yield name, None, path, bad
    for i, line in enumerate((root / TRAJECTORY).read_text().splitlines()):
        for path, _ in _paths(json.loads(line)):
            for bad in BAD_VALUES[::2] + ([_DELETE] if path else []):
                yield TRAJECTORY, i, path, bad


def _apply(root: Path, name: str, line: int | None, path: tuple, bad) -> None:
    file = root / name
    if line is None:
        file.write_text(json.dumps(_set(json.loads(file.read_text()), path, bad)))
    else:
        lines = file.read_text().splitlines()
        lines[line] = json.dumps(_set(json.loads(lines[line]), path, bad))
        file.write_text("\n".join(lines) + "\n")


def _read_every_way(root: Path) -> None:
    for action in (lambda: RunStore.load(root), lambda: RunStore.load(root, load_images=False),
                   lambda: write_report(root), lambda: _resume(root)):
        try:
            action()
        except RunStoreError:
            pass


def _resume(root: Path) -> None:
    store = RunStore.open_for_resume(root)
    try:
        store.start(store.task, store.load_observation())
    finally:
        store.close()


def test_tampered_fields_are_run_store_errors(pristine, tmp_path):
    cases = list(_mutations(pristine))
    assert len(cases) > 500
    for n, (name, line, path, bad) in enumerate(cases[::STRIDE]):  # every third case keeps the test near 10 s
        root = tmp_path / f"case{n}"
        shutil.copytree(pristine, root)
        _apply(root, name, line, path, bad)
        try:
            _read_every_way(root)
        except Exception as exc:  # noqa: BLE001 - the point: name the case that escaped
            raise AssertionError(f"{name} line {line} {path} = {bad!r:.40}: {type(exc).__name__}: {exc}") from exc
        shutil.rmtree(root)


@pytest.mark.parametrize("name, data", [
    ("run.json", b"\xff\xfe\x00binary"), ("run.json", b"[1, 2]"), ("plan.json", b"{" * 100_000),
    ("summary.json", b"null"), ("extras/index.json", b'{"t": 5}'), ("observation.png", b"not a png"),
    ("images/step1_attempt0.png", b""),
])
def test_tampered_files_are_run_store_errors(pristine, tmp_path, name, data):
    root = tmp_path / "run"
    shutil.copytree(pristine, root)
    (root / name).write_bytes(data)
    _read_every_way(root)


def test_report_command_on_tampered_run_is_one_line_exit_2(pristine, tmp_path, capsys):
    root = tmp_path / "run"
    shutil.copytree(pristine, root)
    _apply(root, "plan.json", None, ("steps", 0, "step_number"), "1")
    assert main(["report", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step_number" in err[0]


def test_resume_never_overwrites_an_earlier_attempts_image(tmp_path, observation):
    """An interrupted step is redone from its first attempt: its new images get new names."""
    root = tmp_path / "run"
    pipe = make_pipeline(steps=["a", "b"], critic={"reject_first": 1})
    pipe.run("stack", observation, store=RunStore.create(root))
    # Cut the log after step 1's first attempt of step 2, as a kill would.
    records = (root / TRAJECTORY).read_text().splitlines()
    kinds = [json.loads(r)["type"] for r in records]
    cut = [i for i, k in enumerate(kinds) if k == "step"][0] + 2  # the step-1 record, then one attempt
    (root / TRAJECTORY).write_text("\n".join(records[:cut]) + "\n")
    (root / "summary.json").unlink()
    before = {p.name: p.read_bytes() for p in (root / "images").iterdir()}
    interrupted = [r for r in read_records(root) if r["type"] == "attempt"][-1]["image_path"]
    make_pipeline(steps=["a", "b"], critic={"reject_first": 1}, generator={"sleep_s": 0}, seed=5).run(
        "stack", observation, store=RunStore.open_for_resume(root))
    after = {p.name: p.read_bytes() for p in (root / "images").iterdir()}
    assert all(after[name] == data for name, data in before.items())  # nothing rewritten
    paths = [r["image_path"] for r in read_records(root) if r["type"] == "attempt"]
    assert len(paths) == len(set(paths)), paths  # every attempt record points at its own file
    assert interrupted in paths and any(p.endswith("_2.png") for p in paths)
    loaded = RunStore.load(root)
    assert loaded.finished and len(loaded.steps) == 2

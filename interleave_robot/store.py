"""The run directory: everything a run produced, written as it goes, readable after a crash.

    run.json             task, observation info, and `meta` (backends, options) for --resume
    observation.png      the camera image the run started from
    plan.json            the plan (reused on resume)
    trajectory.jsonl     append-only: {"type": "attempt", ...} per generator call and
                         {"type": "step", ...} per finished step; each record flushed and fsynced
    images/step{k}_attempt{i}.png   (a later attempt with the same name, e.g. the redone step of a
                                      resumed run, gets `_2`, `_3`, ...: an image is never overwritten)
    extras/*.png         extra images for the report (e.g. the final simulated scene)
    summary.json         counts, flags, timings, and an `extra` dict other components merge into

Images and log records are written in order by one background thread, so the loop never
waits on PNG encoding or fsync; `finish()` and `close()` wait for it. What is on disk is
always a consistent prefix of the run: a record is written after its image, and each record
is flushed (it survives a SIGKILL) and fsynced (it survives a power cut) before the next.
`Attempt.image_path` is set at once; the file appears moments later.

Everything read back is validated (types.from_dict checks every field): a tampered or
foreign file is a RunStoreError naming it, never a crash in `report` or `--resume`.

A process killed at any point leaves a readable run (`RunStore.load`) that `--resume`
continues from its first unfinished step. Attempts of an interrupted step are kept in the
log but the step is redone from its first attempt. Simulator `state` is not serialised:
a resumed step's image comes back from its PNG with `state=None`, while `Attempt.metadata`
(JSON) round-trips, so a simulated generator can re-derive state from it.
"""
from __future__ import annotations

import json
import os
import queue
import re
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from interleave_robot.errors import ImageError, RecordError, RunStoreError
from interleave_robot.images import load_image, save_png
from interleave_robot.types import Attempt, CameraModel, Observation, Plan, StepResult, Task, Trajectory

TRAJECTORY = "trajectory.jsonl"
MAX_RECORD_CHARS = 50_000_000  # a record larger than this is treated as corrupt
INTERRUPTED = "interrupted: the run stopped during this step"  # flag_reason of a killed run's last step


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


MAX_JSON_FILE_BYTES = 64 * 1024 * 1024  # run.json, plan.json, summary.json, extras/index.json


def _read_json(path: Path, expect: type = dict) -> Any:
    try:
        if path.stat().st_size > MAX_JSON_FILE_BYTES:
            raise RunStoreError(f"cannot read {path}: over {MAX_JSON_FILE_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise RunStoreError(f"cannot read {path}: {str(exc)[:200]}") from None
    if not isinstance(data, expect):
        raise RunStoreError(f"{path} is not a JSON {expect.__name__}")
    return data


def _dict_field(data: dict, key: str, where: Path) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RunStoreError(f"{where}: {key!r} must be an object, got {type(value).__name__}")
    return value


def read_records(root: Path) -> list[dict]:
    """The trajectory log's records; a torn or corrupt line (killed mid-write) is skipped."""
    path = root / TRAJECTORY
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if len(line) > MAX_RECORD_CHARS:
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


class _Writer:
    """Runs write jobs in submission order on one daemon thread. The first failure is kept,
    later jobs are skipped (the disk keeps a consistent prefix) and the error is raised to the
    caller at its next submit or stop."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self._log = None  # used by the writer thread only

    def submit(self, fn: Callable, *args) -> None:
        self._check()
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, daemon=True, name="interleave-store")
            self._thread.start()
        self._jobs.put((fn, args))

    def record(self, record: dict, image: np.ndarray | None = None, image_path: Path | None = None) -> None:
        """Queue a log record (and the image it refers to, written first)."""
        # Serialised here, so the record shows the objects as they were when submitted.
        self.submit(self._write_record, json.dumps(record, default=str) + "\n", image, image_path)

    def stop(self) -> None:
        """Wait until everything submitted is on disk, then let the thread exit."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        self._check()

    def _check(self) -> None:
        if self._error is not None:
            raise RunStoreError(self._error)

    def _write_record(self, line: str, image: np.ndarray | None, image_path: Path | None) -> None:
        if image is not None:
            save_png(image, image_path)
        if self._log is None:
            self._log = open(self.log_path, "a", encoding="utf-8")
        self._log.write(line)
        self._log.flush()
        os.fsync(self._log.fileno())

    def _serve(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                if self._error is None:
                    fn, args = job
                    try:
                        fn(*args)
                    except Exception as exc:  # kept and raised in the caller's thread: never lost silently
                        self._error = f"cannot write the run in {self.log_path.parent}: {exc}"
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None


class RunStore:
    """One run directory. Create with `create` (new run) or `open_for_resume` (continue one)."""

    def __init__(self, root: Path, resuming: bool, meta: dict | None = None):
        self.root = Path(root)
        self.resuming = resuming
        self.meta = meta or {}  # written to run.json when the run starts
        self._writer = _Writer(self.root / TRAJECTORY)
        self._image_names: set[str] = set()  # image names handed out (their files may not be written yet)

    # --- opening ---
    @classmethod
    def create(cls, root: str | Path, meta: dict | None = None) -> "RunStore":
        """A new run in `root` (created; it must not already hold a run). `meta` (JSON) is kept
        in run.json: what a caller needs to rebuild the run on resume (backends, options)."""
        root = Path(root)
        if (root / "run.json").exists() or (root / TRAJECTORY).exists():
            raise RunStoreError(f"{root} already holds a run: resume it or choose another directory")
        try:
            (root / "images").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"cannot create run directory {root}: {exc}") from None
        return cls(root, resuming=False, meta=meta)

    @classmethod
    def open_for_resume(cls, root: str | Path) -> "RunStore":
        """An existing run to continue; RunStoreError if `root` holds none."""
        root = Path(root)
        if not (root / "run.json").is_file():
            raise RunStoreError(f"{root} holds no run to resume (no run.json)")
        store = cls(root, resuming=True)
        store.meta = _dict_field(store.info, "meta", root / "run.json")
        try:
            store._repair_log()
        except OSError as exc:
            raise RunStoreError(f"cannot resume {root}: {exc.strerror or exc}") from None
        return store

    @classmethod
    def open_existing(cls, root: str | Path) -> "RunStore":
        """An existing run, to add summary extras or report images after it ran."""
        root = Path(root)
        if not (root / "run.json").is_file():
            raise RunStoreError(f"{root} holds no run (no run.json)")
        return cls(root, resuming=False)

    @property
    def info(self) -> dict:
        """run.json: {"task", "observation", "meta"} as written when the run began."""
        return _read_json(self.root / "run.json")

    @property
    def task(self) -> Task:
        where = self.root / "run.json"
        try:
            return Task.from_dict(self.info.get("task"))
        except RecordError as exc:
            raise RunStoreError(f"{where}: {exc}") from None

    def load_observation(self) -> Observation:
        """The run's observation (image from observation.png; camera and metadata from run.json)."""
        where = self.root / "run.json"
        info = _dict_field(self.info, "observation", where)
        camera, timestamp = info.get("camera"), info.get("timestamp", 0.0)
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
            raise RunStoreError(f"{where}: observation timestamp must be a number")
        try:
            camera = CameraModel.from_dict(camera) if camera is not None else None
            image = load_image(self.root / "observation.png")
        except (RecordError, ImageError) as exc:
            raise RunStoreError(f"{self.root}: unreadable observation: {exc}") from None
        return Observation(image=image, camera=camera, timestamp=timestamp,
                           metadata=_dict_field(info, "metadata", where))

    # --- called by the pipeline ---
    def start(self, task: Task, observation: Observation) -> tuple[Plan | None, list[StepResult]]:
        """Begin (or continue) the run; returns the plan and the finished steps to reuse."""
        if not self.resuming:
            self._writer.submit(save_png, observation.image.copy(), self.root / "observation.png")
            self._writer.submit(_write_json_atomic, self.root / "run.json",
                                {"task": task.to_dict(), "observation": observation.to_dict(), "meta": self.meta})
            self._writer.record({"type": "start"})
            return None, []
        recorded = self.task
        if recorded.text != task.text:
            raise RunStoreError(f"{self.root} is a run of task {recorded.text!r}, not {task.text!r}")
        plan = _load_plan(self.root)
        steps = _finished_steps(self.root, read_records(self.root), load_images=True) if plan else []
        if plan is not None and len(steps) > len(plan.steps):
            raise RunStoreError(f"{self.root}: the log has more steps than plan.json")
        self._writer.record({"type": "resume", "reused_steps": len(steps)})
        return plan, steps

    def write_plan(self, plan: Plan) -> None:
        self._writer.submit(_write_json_atomic, self.root / "plan.json", plan.to_dict())

    def append_attempt(self, attempt: Attempt) -> None:
        """Save the attempt's image (if any) and log the attempt; sets `attempt.image_path` to a name
        no earlier image of this run has (a resumed step's redone attempts get `_2`, ...)."""
        path = None
        if attempt.image is not None:
            attempt.image_path = self._unique_image_name(f"step{attempt.step_number}_attempt{attempt.attempt_index}")
            path = self.root / attempt.image_path
        self._writer.record({"type": "attempt", **attempt.to_dict()}, attempt.image, path)

    def append_step(self, result: StepResult, index: int) -> None:
        self._writer.record({"type": "step", "index": index, **result.to_dict()})

    def finish(self, trajectory: Trajectory) -> None:
        """Log the end, wait until everything is on disk, write summary.json."""
        self._writer.record({"type": "end", "finished": trajectory.finished, "error": trajectory.error})
        self._writer.stop()
        self.write_summary(trajectory=trajectory)

    def close(self) -> None:
        """Wait until everything submitted is on disk (also after an interrupted run)."""
        self._writer.stop()

    # --- summary, extras ---
    def write_summary(self, trajectory: Trajectory | None = None, extra: dict | None = None) -> dict:
        """Write summary.json. With `trajectory`, recompute the counts; `extra` is merged into the
        summary's "extra" dict (other components add their results there). Returns the summary."""
        path = self.root / "summary.json"
        summary = _read_json(path) if path.is_file() else {"extra": {}}
        if trajectory is not None:
            summary.update(summarize(trajectory))
        if extra:
            summary.setdefault("extra", {}).update(extra)
        _write_json_atomic(path, summary)
        return summary

    def save_extra_image(self, title: str, image: np.ndarray) -> str:
        """Store an extra image for the report (shown under `title`); returns its relative path."""
        slug = re.sub(r"[^a-zA-Z0-9]+", "_", title).strip("_")[:60] or "image"
        (self.root / "extras").mkdir(exist_ok=True)
        rel = f"extras/{slug}.png"
        save_png(image, self.root / rel)
        index = self.extra_images()
        index_path = self.root / "extras" / "index.json"
        index[title] = rel
        _write_json_atomic(index_path, index)
        return rel

    def extra_images(self) -> dict[str, str]:
        """{title: relative PNG path} of the extra report images saved so far."""
        index_path = self.root / "extras" / "index.json"
        index = _read_json(index_path) if index_path.is_file() else {}
        if not all(isinstance(v, str) for v in index.values()):
            raise RunStoreError(f"{index_path}: every entry must be a relative path")
        return index

    # --- reading ---
    @classmethod
    def load(cls, root: str | Path, load_images: bool = True) -> Trajectory:
        """The trajectory recorded in `root`, also of a run killed midway (its last, unfinished
        step is included with the attempts it had, flagged as interrupted)."""
        store = cls.open_existing(root)
        root = store.root
        trajectory = Trajectory(task=store.task, plan=_load_plan(root))
        if load_images and (root / "observation.png").is_file():
            trajectory.observation = store.load_observation()
        records = read_records(root)
        trajectory.steps = _finished_steps(root, records, load_images)
        pending = _pending_attempts(records)
        if pending and trajectory.plan is not None and len(trajectory.steps) < len(trajectory.plan.steps):
            step = StepResult(step=trajectory.plan.steps[len(trajectory.steps)], flagged=True,
                              flag_reason=INTERRUPTED)
            step.attempts = [_attempt_from_record(root, r, load_images) for r in pending]
            trajectory.steps.append(step)
        ends = [r for r in records if r.get("type") == "end"]
        if ends:
            error = ends[-1].get("error")
            trajectory.finished = bool(ends[-1].get("finished"))
            trajectory.error = None if error is None else str(error)
        summary_path = root / "summary.json"
        if summary_path.is_file():
            summary = _read_json(summary_path)
            trajectory.metadata = dict(_dict_field(summary, "metadata", summary_path),
                                       timings=_dict_field(summary, "timings", summary_path),
                                       extra=_dict_field(summary, "extra", summary_path))
        return trajectory

    # --- internals ---
    def _unique_image_name(self, stem: str) -> str:
        """images/<stem>.png, or <stem>_2.png, ...: never a name taken on disk or queued for writing."""
        for n in range(1, 1_000_000):
            rel = f"images/{stem}.png" if n == 1 else f"images/{stem}_{n}.png"
            if rel not in self._image_names and not (self.root / rel).exists():
                self._image_names.add(rel)
                return rel
        raise RunStoreError(f"{self.root}: no free image name for {stem}")

    def _repair_log(self) -> None:
        """Drop a torn last line (killed mid-write) so appended records start on a fresh line."""
        path = self.root / TRAJECTORY
        if not path.is_file():
            return
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)


def generator_failures(trajectory: Trajectory) -> int:
    """Attempts whose generator call produced no image (it failed or timed out)."""
    return sum(1 for s in trajectory.steps for a in s.attempts if a.image is None and a.image_path is None)


def summarize(trajectory: Trajectory) -> dict:
    """The counts summary.json holds (without its `extra`). `all_generator_calls_failed` marks a
    run in which no generator call produced an image (the CLI then exits 1)."""
    failures = generator_failures(trajectory)
    return {
        "task": trajectory.task.text,
        "steps": len(trajectory.plan.steps) if trajectory.plan else 0,
        "steps_done": len(trajectory.steps),
        "generator_calls": trajectory.generator_calls,
        "generator_failures": failures,
        "all_generator_calls_failed": trajectory.generator_calls > 0 and failures == trajectory.generator_calls,
        "critic_rejections": trajectory.critic_rejections,
        "flagged_steps": [s.step.step_number for s in trajectory.steps if s.flagged],
        "finished": trajectory.finished,
        "error": trajectory.error,
        "timings": trajectory.metadata.get("timings", {}),
        "metadata": {k: v for k, v in trajectory.metadata.items() if k != "timings"},
    }


def path_inside(root: Path, rel: str) -> Path | None:
    """`root / rel` if it stays inside `root` (paths read from run files may be tampered with)."""
    try:
        path = (root / rel).resolve()
    except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops
        return None
    return path if path.is_relative_to(root.resolve()) else None


def _load_plan(root: Path) -> Plan | None:
    plan_path = root / "plan.json"
    if not plan_path.is_file():
        return None
    try:
        return Plan.from_dict(_read_json(plan_path))
    except RecordError as exc:
        raise RunStoreError(f"{plan_path}: {exc}") from None


def _load_attempt_image(root: Path, attempt: Attempt) -> None:
    path = path_inside(root, attempt.image_path)
    if path is None:
        raise RunStoreError(f"{root}: image path {attempt.image_path!r} leaves the run directory")
    try:
        attempt.image = load_image(path)
    except ImageError as exc:
        raise RunStoreError(f"{root}: unreadable attempt image: {exc}") from None


def _attempt_from_record(root: Path, record: dict, load_images: bool) -> Attempt:
    data = {k: v for k, v in record.items() if k != "type"}
    try:
        attempt = Attempt.from_dict(data)
    except RecordError as exc:
        raise RunStoreError(f"{root / TRAJECTORY}: unreadable attempt record: {exc}") from None
    if load_images and attempt.image_path:
        _load_attempt_image(root, attempt)
    return attempt


def _finished_steps(root: Path, records: list[dict], load_images: bool) -> list[StepResult]:
    """Step records in index order (a record out of sequence is ignored)."""
    steps: list[StepResult] = []
    for record in records:
        if record.get("type") != "step" or record.get("index") != len(steps):
            continue
        try:
            result = StepResult.from_dict({k: v for k, v in record.items() if k not in ("type", "index")})
        except RecordError as exc:
            raise RunStoreError(f"{root / TRAJECTORY}: unreadable step record: {exc}") from None
        if load_images:
            for attempt in result.attempts:
                if attempt.image_path:
                    _load_attempt_image(root, attempt)
        steps.append(result)
    return steps


def _pending_attempts(records: list[dict]) -> list[dict]:
    """Attempt records after the last step/start/resume record: a step that never finished."""
    pending: list[dict] = []
    for record in records:
        kind = record.get("type")
        if kind == "attempt":
            pending.append(record)
        elif kind in ("step", "start", "resume"):
            pending = []
    return pending

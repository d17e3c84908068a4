"""JSON payloads that travel on std_msgs/String topics: tasks, observation context, status.

- A task is plain text, or a JSON object {"text", "family"?, "spec"?, "id"?, "seed"?} (what a
  simulator publishes so that its privileged teacher can read the task spec; "seed" is the
  episode's seed, which the guidance node runs that task with, as `demo` does).
- The observation context is a JSON object {"stamp_ns", "camera"?, "inventory"?, "state"?}
  published beside a camera frame with the same header stamp: the camera model (intrinsics
  and extrinsics, OpenCV convention), the scene inventory (the objects' names, kinds and
  colours: what a robot's object list says, which the perception critic reads) and, in
  simulation only, the simulator state behind the frame. Real robots may publish the camera
  and inventory parts; nothing requires the topic.
- Simulator state is opaque to the core; a state codec (named here, imported lazily) turns
  it into JSON and back. "none" carries no state.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from interleave_robot.errors import ConfigError, InterleaveError
from interleave_robot.types import CameraModel, SceneObject, Task

MAX_TASK_CHARS = 20_000
MAX_JSON_CHARS = 4_000_000  # an observation context or a split-mode message (base64 images)
MAX_SEED = 2**63 - 1  # a task's seed: what numpy's and torch's generators take

# codec name -> "module:Class" of a class with to_dict() and from_dict(); None: no state.
STATE_CODECS: dict[str, str | None] = {
    "none": None,
    "sim": "interleave_robot.sim_envs.scene:SimSnapshot",
}


class MessageError(InterleaveError, ValueError):
    """A message whose content is unusable (empty task, bad JSON, missing field)."""


@dataclass
class StateCodec:
    """Simulator state <-> JSON by a codec name of STATE_CODECS."""

    name: str = "none"

    def __post_init__(self):
        if self.name not in STATE_CODECS:
            raise ConfigError(f"unknown state codec {self.name!r}; choose one of: {', '.join(STATE_CODECS)}")
        target = STATE_CODECS[self.name]
        self._cls = None
        if target is not None:
            module, _, attr = target.partition(":")
            self._cls = getattr(importlib.import_module(module), attr)

    def encode(self, state: Any) -> dict | None:
        if self._cls is None or state is None:
            return None
        if not isinstance(state, self._cls):
            raise MessageError(f"state codec {self.name!r} expects {self._cls.__name__}, got {type(state).__name__}")
        return state.to_dict()

    def decode(self, data: dict | None) -> Any:
        if self._cls is None or data is None:
            return None
        try:
            return self._cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise MessageError(f"state is not a valid {self._cls.__name__}: {exc!r}") from None


def loads_object(text: str, what: str, limit: int = MAX_JSON_CHARS) -> dict:
    """Parse a JSON object from a message, bounded in size; MessageError otherwise."""
    if len(text) > limit:
        raise MessageError(f"{what} is {len(text)} characters, over the {limit} bound")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MessageError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MessageError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


class TaskMessage(NamedTuple):
    """A parsed task message: the task, its id and its seed (None when the message has none)."""

    task: Task
    task_id: str | None = None
    seed: int | None = None


def parse_task(text: str) -> TaskMessage:
    """A task message -> TaskMessage; MessageError for an empty or bad task."""
    if len(text) > MAX_TASK_CHARS:
        raise MessageError(f"task is {len(text)} characters, over the {MAX_TASK_CHARS} bound")
    stripped = text.strip()
    if not stripped:
        raise MessageError("task is empty")
    if not stripped.startswith("{"):
        return TaskMessage(Task(text=stripped))
    data = loads_object(stripped, "task")
    words = data.get("text")
    if not isinstance(words, str) or not words.strip():
        raise MessageError("task JSON needs a non-empty \"text\"")
    family, spec, task_id, seed = data.get("family"), data.get("spec"), data.get("id"), data.get("seed")
    if family is not None and not isinstance(family, str):
        raise MessageError(f"task \"family\" must be a string, got {type(family).__name__}")
    if spec is not None and not isinstance(spec, dict):
        raise MessageError(f"task \"spec\" must be an object, got {type(spec).__name__}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise MessageError(f"task \"seed\" must be an integer in [0, 2**63), got {seed!r}")
    return TaskMessage(Task(text=words.strip(), family=family, spec=spec), None if task_id is None else str(task_id),
                       seed)


def task_message(task: Task, task_id: str | None = None, seed: int | None = None) -> str:
    """The JSON task text for a Task (the inverse of parse_task); `seed` only when given."""
    data = {"text": task.text, "family": task.family, "spec": task.spec}
    if task_id is not None:
        data["id"] = task_id
    if seed is not None:
        data["seed"] = int(seed)
    return json.dumps(data)


def context_message(stamp_ns: int, camera: CameraModel | None, state: Any, codec: StateCodec,
                    inventory: list[SceneObject] | None = None) -> str:
    return json.dumps({"stamp_ns": int(stamp_ns), "camera": camera.to_dict() if camera else None,
                       "inventory": [o.to_dict() for o in inventory or []], "state": codec.encode(state)})


def inventory_from(data: Any, what: str) -> list[SceneObject]:
    """A JSON list of SceneObject dicts -> list[SceneObject]; MessageError if malformed."""
    if data is None:
        return []
    if not isinstance(data, list) or len(data) > 1000:
        raise MessageError(f"{what} inventory must be a list of at most 1000 objects")
    try:
        return [SceneObject.from_dict(item) for item in data]
    except TypeError as exc:
        raise MessageError(f"{what} inventory is invalid: {exc}") from None


def parse_context(text: str, codec: StateCodec) -> tuple[int, CameraModel | None, Any, list[SceneObject]]:
    """-> (stamp in ns, camera model or None, decoded state or None, inventory)."""
    data = loads_object(text, "observation context")
    stamp = data.get("stamp_ns")
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise MessageError("observation context needs an integer \"stamp_ns\"")
    camera = data.get("camera")
    try:
        camera = CameraModel.from_dict(camera) if camera is not None else None
    except TypeError as exc:
        raise MessageError(f"observation context camera is invalid: {exc}") from None
    return stamp, camera, codec.decode(data.get("state")), inventory_from(data.get("inventory"), "observation context")


@dataclass
class StepDone:
    """What a robot reports on the step-done topic after executing a subgoal (closed loop).

    JSON: {"task_id", "step" (1-based, as the status and Subgoal messages count), "success",
    "replan"?, "reason"?, "stamp_ns"}; `stamp_ns` is the header stamp of the first camera frame
    the robot published after the step: the guidance node generates the next subgoal from
    that frame (or a newer one), never from an older view.
    """

    task_id: str
    step: int
    success: bool = True
    replan: bool = False
    reason: str = ""
    stamp_ns: int = 0

    def to_message(self) -> str:
        return json.dumps(self.__dict__)


def parse_step_done(text: str) -> StepDone:
    data = loads_object(text, "step done", MAX_TASK_CHARS)
    task_id, step, stamp = data.get("task_id"), data.get("step"), data.get("stamp_ns", 0)
    if not isinstance(task_id, str):
        raise MessageError("step done needs a string \"task_id\"")
    for name, value in (("step", step), ("stamp_ns", stamp)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MessageError(f"step done needs a non-negative integer \"{name}\", got {value!r}")
    success, replan, reason = data.get("success", True), data.get("replan", False), data.get("reason", "")
    if not isinstance(success, bool) or not isinstance(replan, bool) or not isinstance(reason, str):
        raise MessageError("step done: \"success\" and \"replan\" must be booleans, \"reason\" a string")
    return StepDone(task_id=task_id, step=step, success=success, replan=replan, reason=reason, stamp_ns=stamp)

"""The data model: what flows from Observation -> Planner -> Plan -> (Generator -> Critic)* -> Trajectory.

Images are RGB uint8 numpy arrays (H, W, 3). `to_dict()` gives JSON-ready dicts; images are
left out of them (the run store writes them as PNG files and records `image_path`).
`from_dict()` is the inverse. Simulator state (`state` fields) is opaque to the core: a
simulated generator reads the state attached to its source image and attaches the state of
the image it produced; real backends leave it None.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interleave_robot.errors import RecordError

# `from_dict` reads files a user (or a crash) may have altered: every field is checked against
# its annotation, so a tampered run directory is a RecordError naming the field, never a crash later.
_JSON_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "dict": (dict,),
               "list": (list,), "None": (type(None),)}
_MAX_INT = 2 ** 63


def _json_types(annotation: str) -> tuple | None:
    """The JSON types a field annotated `annotation` (a string: postponed annotations) accepts; None if not JSON."""
    allowed: list[type] = []
    for part in annotation.split("|"):
        base = part.strip().split("[")[0]
        if base not in _JSON_TYPES:
            return None
        allowed.extend(_JSON_TYPES[base])
    return tuple(allowed)


def _record(cls: type, data: Any, nested: tuple[str, ...] = ()) -> dict:
    """`data` as keyword arguments of `cls`, its JSON fields type-checked; `nested` fields are the
    caller's to convert. RecordError names a non-object, an unknown, missing or ill-typed field."""
    name = cls.__name__
    if not isinstance(data, dict):
        raise RecordError(f"{name}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key, value in data.items():
        allowed = _json_types(fields[key].type) if key in fields and key not in nested else None
        if key not in nested and allowed is None:
            raise RecordError(f"{name}: unknown field {str(key)[:40]!r}")
        if key in nested:
            continue
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise RecordError(f"{name}.{key}: expected {fields[key].type}, got {type(value).__name__}")
        if isinstance(value, int) and not isinstance(value, bool) and not -_MAX_INT <= value < _MAX_INT:
            raise RecordError(f"{name}.{key}: integer out of range")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise RecordError(f"{name}: missing field(s) {', '.join(missing)}")
    return dict(data)


@dataclass
class CameraModel:
    """Pinhole camera, OpenCV convention (x right, y down, z forward).

    `world_from_camera` is a 4x4 row-major homogeneous transform (camera frame -> world frame).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    world_from_camera: list[list[float]] = field(default_factory=lambda: np.eye(4).tolist())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CameraModel":
        kwargs = _record(cls, data)
        matrix = kwargs.get("world_from_camera", [[0.0] * 4] * 4)
        if len(matrix) != 4 or not all(isinstance(row, list) and len(row) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in row) for row in matrix):
            raise RecordError("CameraModel.world_from_camera: expected a 4x4 list of numbers")
        return cls(**kwargs)


@dataclass
class Task:
    """A task in words, plus (optionally) a structured spec a privileged teacher can read."""

    text: str
    family: str | None = None
    spec: dict | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Task":
        return cls(**_record(cls, data))


@dataclass
class Observation:
    """A camera frame: RGB image, optional metric depth (H, W float32) and camera model."""

    image: np.ndarray
    depth: np.ndarray | None = None
    camera: CameraModel | None = None
    timestamp: float = 0.0
    state: Any = None  # simulator state behind this frame (privileged; simulation only)
    metadata: dict = field(default_factory=dict)
    inventory: list[SceneObject] = field(default_factory=list)  # the scene's objects (names, colours)

    def to_dict(self) -> dict:
        return {
            "camera": self.camera.to_dict() if self.camera else None,
            "timestamp": self.timestamp,
            "metadata": self.metadata,
            "image_shape": list(self.image.shape),
        }


@dataclass
class PlanStep:
    """One step of the plan, in the InterleaveThinker planner's field names."""

    step_number: int
    step_name: str
    instruction: str  # text shown to the robot/user
    prompt: str  # the instruction rewritten for the image generator
    auxiliary_text: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PlanStep":
        return cls(**_record(cls, data))


@dataclass
class Plan:
    steps: list[PlanStep]
    raw_text: str = ""  # the model answer it was parsed from (empty for teachers)
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"steps": [s.to_dict() for s in self.steps], "raw_text": self.raw_text,
                "metadata": self.metadata}

    @classmethod
    def from_dict(cls, data: dict) -> "Plan":
        kwargs = _record(cls, data, nested=("steps",))
        if not isinstance(kwargs["steps"], list):
            raise RecordError(f"Plan.steps: expected a list, got {type(kwargs['steps']).__name__}")
        return cls(**{**kwargs, "steps": [PlanStep.from_dict(s) for s in kwargs["steps"]]})


@dataclass
class Verdict:
    """The critic's answer: was the step's image right, and if not, a better prompt."""

    success: bool
    refine_prompt: str = ""
    raw_text: str = ""
    reason: str = ""  # optional human-readable reason (perception critic, parsed <think>)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Verdict":
        return cls(**_record(cls, data))


@dataclass
class GenerationRequest:
    """One generator call. `source_image` None means text-to-image."""

    prompt: str
    seed: int
    source_image: np.ndarray | None = None
    source_state: Any = None  # simulator state behind source_image (simulated generator only)
    step: PlanStep | None = None


@dataclass
class GenerationResult:
    image: np.ndarray
    state: Any = None  # simulator state behind the generated image (simulated generator only)
    metadata: dict = field(default_factory=dict)  # JSON-able; e.g. fault ground truth in sim


@dataclass
class SceneObject:
    """One entry of a scene inventory: what a robot's object list says, never where it is."""

    name: str
    kind: str  # "block", "bin", ...
    color: str
    shape: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SceneObject":
        return cls(**data)


@dataclass
class CritiqueRequest:
    """One critic call: (before, after, original instruction, current prompt) plus what a camera
    and a scene inventory give: the task in words, the objects' names and colours, the camera.
    No privileged field: a critic never sees a task's goal or the simulator's state."""

    before_image: np.ndarray
    after_image: np.ndarray
    instruction: str
    prompt: str
    step: PlanStep | None = None
    plan: Plan | None = None
    task_text: str = ""
    inventory: list[SceneObject] = field(default_factory=list)
    camera: CameraModel | None = None


@dataclass
class Attempt:
    """One generator call for a step and the critic's verdict on it. Every attempt is kept."""

    step_number: int
    attempt_index: int  # 0-based within the step
    prompt: str
    seed: int
    image: np.ndarray | None = None
    verdict: Verdict | None = None
    generator_seconds: float = 0.0
    critic_seconds: float = 0.0
    error: str | None = None  # generator/critic failure, with the reason
    image_path: str | None = None  # relative to the run directory, set by the store
    metadata: dict = field(default_factory=dict)  # generator metadata (sim ground truth)
    state: Any = None  # simulator state of the generated image (not serialised)

    def to_dict(self) -> dict:
        return {
            "step_number": self.step_number, "attempt_index": self.attempt_index,
            "prompt": self.prompt, "seed": self.seed,
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "generator_seconds": self.generator_seconds, "critic_seconds": self.critic_seconds,
            "error": self.error, "image_path": self.image_path, "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Attempt":
        kwargs = _record(cls, data, nested=("verdict",))
        verdict = kwargs.pop("verdict", None)
        return cls(**kwargs, verdict=None if verdict is None else Verdict.from_dict(verdict))


@dataclass
class StepResult:
    step: PlanStep
    attempts: list[Attempt] = field(default_factory=list)
    accepted_index: int | None = None  # index into attempts of the accepted image
    flagged: bool = False  # accepted without the critic's approval (budget ran out, errors)
    flag_reason: str | None = None

    @property
    def accepted(self) -> Attempt | None:
        return None if self.accepted_index is None else self.attempts[self.accepted_index]

    def to_dict(self) -> dict:
        return {"step": self.step.to_dict(), "attempts": [a.to_dict() for a in self.attempts],
                "accepted_index": self.accepted_index, "flagged": self.flagged,
                "flag_reason": self.flag_reason}

    @classmethod
    def from_dict(cls, data: dict) -> "StepResult":
        kwargs = _record(cls, data, nested=("step", "attempts"))
        attempts = kwargs.get("attempts", [])
        if not isinstance(attempts, list):
            raise RecordError(f"StepResult.attempts: expected a list, got {type(attempts).__name__}")
        index = kwargs.get("accepted_index")
        if index is not None and not 0 <= index < len(attempts):
            raise RecordError(f"StepResult.accepted_index {index} is not one of its {len(attempts)} attempts")
        return cls(**{**kwargs, "step": PlanStep.from_dict(kwargs["step"]),
                      "attempts": [Attempt.from_dict(a) for a in attempts]})


@dataclass
class StepFeedback:
    """What a robot reports after executing an accepted step (closed loop).

    `observation` is the robot's camera frame after the step (for the simulator, with the
    physics `state` behind it): step k+1 is generated from it. `replan` asks the planner again
    (the scene no longer admits the plan); a failed step (`success` False) does too.
    """

    observation: Observation
    success: bool = True
    replan: bool = False
    reason: str = ""

    def to_dict(self) -> dict:
        """JSON-ready (the observation's image and state left out)."""
        return {"success": self.success, "replan": self.replan, "reason": self.reason,
                "observation": self.observation.to_dict() if self.observation is not None else None}


@dataclass
class Trajectory:
    """The interleaved text+image sequence of one run, every attempt kept."""

    task: Task
    plan: Plan | None = None
    steps: list[StepResult] = field(default_factory=list)
    observation: Observation | None = None
    error: str | None = None  # a run-level failure (e.g. the planner never answered in format)
    finished: bool = False
    metadata: dict = field(default_factory=dict)

    @property
    def generator_calls(self) -> int:
        return sum(len(s.attempts) for s in self.steps)

    @property
    def critic_rejections(self) -> int:
        return sum(1 for s in self.steps for a in s.attempts
                   if a.verdict is not None and not a.verdict.success)

    def to_dict(self) -> dict:
        return {"task": self.task.to_dict(), "plan": self.plan.to_dict() if self.plan else None,
                "steps": [s.to_dict() for s in self.steps],
                "observation": self.observation.to_dict() if self.observation else None,
                "error": self.error, "finished": self.finished, "metadata": self.metadata}

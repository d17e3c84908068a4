"""interleave-robot: InterleaveThinker-style step-by-step visual guidance for robot manipulation.

Light to import: heavy libraries load inside the backends that need them.
"""
from interleave_robot.errors import (BackendError, BackendTimeoutError, CheckpointNotFoundError, ConfigError,
                                     ImageError, ImageTooLargeError, InterleaveError, OutputFormatError,
                                     RecordError, RunStoreError)
from interleave_robot.parsing import parse_plan, parse_verdict
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.types import (Attempt, CameraModel, CritiqueRequest, GenerationRequest, GenerationResult,
                                    Observation, Plan, PlanStep, SceneObject, StepFeedback, StepResult, Task,
                                    Trajectory, Verdict)

__version__ = "0.1.0"

__all__ = [
    "BackendError", "BackendTimeoutError", "CheckpointNotFoundError", "ConfigError", "ImageError",
    "ImageTooLargeError", "RecordError",
    "InterleaveError", "OutputFormatError", "RunStoreError", "parse_plan", "parse_verdict", "GuidancePipeline",
    "PipelineConfig", "Attempt", "CameraModel", "CritiqueRequest", "GenerationRequest", "GenerationResult",
    "Observation", "Plan", "PlanStep", "SceneObject", "StepFeedback", "StepResult", "Task", "Trajectory", "Verdict",
]

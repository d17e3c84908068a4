"""The agent interfaces the pipeline loop knows, and nothing more: three agents and a robot.

Every backend is a class taking one config dataclass (its `config_class`) and implementing
one of these. Backends load heavy libraries lazily (inside __init__ or methods), so that
`import interleave_robot` stays light.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

from interleave_robot.types import (CritiqueRequest, GenerationRequest, GenerationResult, Observation, Plan, StepFeedback,
                                    StepResult, Task, Verdict)


class Planner(ABC):
    """task + observation -> execution plan."""

    config_class: type

    @abstractmethod
    def plan(self, task: Task, observation: Observation) -> Plan:
        """Raise OutputFormatError for an answer out of format (the pipeline retries it)."""

    def close(self) -> None:
        """Free models and connections. Default: nothing to free."""


class Generator(ABC):
    """(source image or None, prompt, seed) -> image."""

    config_class: type
    # True: it needs GenerationRequest.source_state (simulator state), which HTTP cannot carry.
    needs_source_state: bool = False

    @abstractmethod
    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Raise BackendError/BackendTimeoutError on failure (the pipeline flags, never crashes)."""

    def close(self) -> None:
        """Free models and connections. Default: nothing to free."""


class Critic(ABC):
    """(before image, after image, original instruction, current prompt) -> Verdict."""

    config_class: type

    @abstractmethod
    def critique(self, request: CritiqueRequest) -> Verdict:
        """Raise OutputFormatError for an answer out of format (the pipeline retries it)."""

    def close(self) -> None:
        """Free models and connections. Default: nothing to free."""


class Robot(ABC):
    """What closes the loop: executes an accepted step and reports the scene it left.

    Called by the pipeline (loop "closed") after step `step_index`'s image is accepted; blocks
    until the robot has executed it. The next step is generated from the returned
    observation, not from the generated image. Report a step that could not be executed with
    `success=False` and the reason, rather than raising.
    """

    @abstractmethod
    def execute(self, step_result: StepResult, step_index: int) -> StepFeedback:
        """Execute `step_result.accepted` (None when no attempt produced an image)."""

    def close(self) -> None:
        """Free what the robot holds. Default: nothing to free."""

"""Events the pipeline emits while it runs, for streaming consumers (ROS nodes, progress bars, stores).

A listener is any callable taking one Event. Listeners run synchronously in the pipeline's
thread; a listener that raises is logged and detached, never allowed to break the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

PLAN_READY = "plan_ready"  # payload: plan
ATTEMPT_DONE = "attempt_done"  # payload: step (PlanStep), attempt (Attempt)
STEP_ACCEPTED = "step_accepted"  # payload: step_result (StepResult), step_index, num_steps
STEP_EXECUTED = "step_executed"  # payload: step_index, feedback (StepFeedback); closed loop only
REPLANNED = "replanned"  # payload: plan (the new remaining steps), reason; closed loop only
RUN_FINISHED = "run_finished"  # payload: trajectory
EVENT_KINDS = (PLAN_READY, ATTEMPT_DONE, STEP_ACCEPTED, STEP_EXECUTED, REPLANNED, RUN_FINISHED)


@dataclass
class Event:
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]

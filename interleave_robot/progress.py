"""A pipeline listener that shows progress: a tqdm bar on a terminal, plain lines elsewhere.

    pipe.run(task, observation, listeners=[ProgressListener()])

Plain lines (logs, CI, pipes) look like:
    plan: 3 steps
    step 1/3 attempt 1: rejected -> 'put the red block on the blue one, centred'
    step 1/3 accepted (attempt 2)
    done: 3 steps, 4 generator calls, 1 rejection, 0 flagged
"""
from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

from interleave_robot.events import ATTEMPT_DONE, PLAN_READY, RUN_FINISHED, STEP_ACCEPTED, Event

_PREVIEW = 70


def _short(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _PREVIEW else text[:_PREVIEW] + "...")


def describe_attempt(attempt) -> str:
    """One phrase for an attempt's outcome: accepted / rejected -> refined prompt / failed: why."""
    if attempt.error:
        return f"failed: {attempt.error}"
    if attempt.verdict is None:
        return "generated"
    if attempt.verdict.success:
        return "approved"
    refine = attempt.verdict.refine_prompt
    return f"rejected -> {_short(refine)}" if refine else "rejected"


class ProgressListener:
    """Shows a run's progress on `stream` (stderr by default). `bar`: None picks tqdm when the
    stream is a terminal; True/False forces it."""

    def __init__(self, stream: TextIO | None = None, bar: bool | None = None):
        self.stream = stream or sys.stderr
        self.bar_enabled = self.stream.isatty() if bar is None else bar
        self._bar = None
        self._num_steps = 0

    def __call__(self, event: Event) -> None:
        p = event.payload
        if event.kind == PLAN_READY:
            self._num_steps = len(p["plan"].steps)
            if self.bar_enabled:
                self._bar = tqdm(total=self._num_steps, unit="step", file=self.stream, desc="guidance")
            else:
                self._line(f"plan: {self._num_steps} steps")
        elif event.kind == ATTEMPT_DONE:
            attempt = p["attempt"]
            text = f"step {attempt.step_number} attempt {attempt.attempt_index + 1}: {describe_attempt(attempt)}"
            if self._bar is not None:
                self._bar.set_postfix_str(text[:60])
            else:
                self._line(text)
        elif event.kind == STEP_ACCEPTED:
            self._step(p["step_result"], p["step_index"], p.get("resumed", False))
        elif event.kind == RUN_FINISHED:
            self._finish(p["trajectory"])

    def _step(self, result, index: int, resumed: bool) -> None:
        if self._bar is not None:
            self._bar.update(1)
            return
        where = f"step {index + 1}/{self._num_steps}"
        if resumed:
            self._line(f"{where} reused from the interrupted run")
        elif result.accepted is None:
            self._line(f"{where} flagged: {result.flag_reason}")
        elif result.flagged:
            self._line(f"{where} accepted attempt {result.accepted_index + 1}, flagged: {result.flag_reason}")
        else:
            self._line(f"{where} accepted (attempt {result.accepted_index + 1})")

    def _finish(self, trajectory) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if trajectory.error:
            self._line(f"failed: {trajectory.error}")
            return
        flagged = sum(1 for s in trajectory.steps if s.flagged)
        rejections = trajectory.critic_rejections
        self._line(f"done: {len(trajectory.steps)} steps, {trajectory.generator_calls} generator calls, "
                   f"{rejections} rejection{'s' * (rejections != 1)}, {flagged} flagged")

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

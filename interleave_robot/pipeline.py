"""The InterleaveThinker loop: planner once, then per step generator -> critic -> refine.

    pipe = GuidancePipeline(planner, generator, critic, PipelineConfig())
    trajectory = pipe.run(task, observation, listeners=[print], store=RunStore.create("runs/x"))

Open loop (the paper's, and whenever no robot is given): step k edits the accepted image of
step k-1 (the observation for step 1). Closed loop (`PipelineConfig.loop = "closed"` with a
`robot`): after step k is accepted the robot executes it, and step k+1 is generated from the
robot's camera frame (and the simulator state behind it) that `robot.execute` returns; when
the robot reports a failed step or asks for a re-plan, the planner is asked again on the
current observation, up to `max_replans` times, and its steps replace the remaining ones
(numbered after the last step done, so file names stay distinct). A rejected image
is regenerated from the same source with the critic's refined prompt (or the same prompt
and a new seed when the refined prompt is empty), up to `max_attempts_per_step`. Nothing a
backend does can crash a run: failures are recorded on the attempt, and a step that never
got approved is accepted anyway and flagged with the reason. Only bad inputs from the
caller (an invalid observation image, an unusable run store) raise.

A closed-loop run with a robot cannot be resumed (`--resume`): the robot's scene after the
finished steps is not in the run directory, so the resumed steps would start from a scene
that no longer exists. The store refuses it with a ConfigError; open-loop runs resume.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from interleave_robot.agents import Critic, Generator, Planner, Robot
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError, InterleaveError, OutputFormatError
from interleave_robot.events import (ATTEMPT_DONE, PLAN_READY, REPLANNED, RUN_FINISHED, STEP_ACCEPTED, STEP_EXECUTED,
                                     Event, Listener)
from interleave_robot.images import check_image
from interleave_robot.types import (Attempt, CritiqueRequest, GenerationRequest, GenerationResult, Observation, Plan,
                                    PlanStep, StepFeedback, StepResult, Task, Trajectory, Verdict)

log = logging.getLogger(__name__)
_MASK64 = (1 << 64) - 1
_MAX_ERROR_CHARS = 500
LOOPS = ("closed", "open")


@dataclass
class PipelineConfig:
    """Options of the loop. Timeouts are per backend call, in seconds (None: wait forever)."""

    max_attempts_per_step: int = 3
    max_generator_calls: int | None = None  # a cap over the whole run; later steps are flagged
    use_critic: bool = True  # False: accept every first image (the no-critic baseline)
    generator_timeout_s: float | None = None
    critic_timeout_s: float | None = None
    planner_timeout_s: float | None = None
    max_format_retries: int = 2  # extra tries when a planner/critic answer is out of format
    seed: int = 0
    loop: str = "closed"  # "closed": each step from the robot's view after the last (needs a robot); "open"
    max_replans: int = 2  # closed loop: planner calls allowed after the first plan

    def __post_init__(self):
        def _int(name: str, value: Any, low: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"PipelineConfig.{name} must be an integer >= {low}, got {value!r}")

        _int("max_attempts_per_step", self.max_attempts_per_step, 1)
        _int("max_format_retries", self.max_format_retries, 0)
        _int("seed", self.seed, 0)
        _int("max_replans", self.max_replans, 0)
        if self.loop not in LOOPS:
            raise ConfigError(f"PipelineConfig.loop must be one of {', '.join(LOOPS)}, got {self.loop!r}")
        if self.max_generator_calls is not None:
            _int("max_generator_calls", self.max_generator_calls, 0)
        if not isinstance(self.use_critic, bool):
            raise ConfigError(f"PipelineConfig.use_critic must be a bool, got {self.use_critic!r}")
        for name in ("generator_timeout_s", "critic_timeout_s", "planner_timeout_s"):
            value = self.__dict__[name]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ConfigError(f"PipelineConfig.{name} must be a positive number or None, got {value!r}")


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread 64-bit mix."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def attempt_seed(base: int, step_number: int, attempt_index: int) -> int:
    """The generator seed of (run seed, step, attempt): deterministic, distinct per attempt,
    31 bits so that every backend (torch, numpy, HTTP servers) accepts it."""
    x = base & _MASK64
    for part in (step_number, attempt_index):
        x = _mix64((x + 0x9E3779B97F4A7C15) & _MASK64) ^ (part & _MASK64)
    return _mix64((x + 0x9E3779B97F4A7C15) & _MASK64) & 0x7FFFFFFF


def _log_failure(exc: BaseException, message: str, *args) -> None:
    """Expected failures (typed errors) are recorded on the trajectory, so they log at INFO;
    anything else is a backend bug and logs a WARNING with its traceback."""
    if isinstance(exc, InterleaveError):
        log.info(message, *args, _describe(exc))
    else:
        log.warning(message, *args, _describe(exc), exc_info=exc)


def _describe(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, InterleaveError) else f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + "..."


class CallWorker:
    """Runs backend calls under a deadline on one reusable daemon thread.

    Python cannot kill a thread: a call that overruns its timeout keeps running in the
    background until the backend returns, and its result is dropped. The busy thread is
    abandoned and a fresh one serves the next call. The threads are daemons, so a hung backend
    never blocks interpreter exit; a backend that must stop its work should have its own
    timeout (the HTTP backends do). Two C-level queues per worker instead of a
    concurrent.futures executor: the hop costs less, which the overhead benchmark shows.
    """

    def __init__(self):
        self._jobs: queue.SimpleQueue | None = None
        self._results: queue.SimpleQueue | None = None

    def call(self, fn: Callable, arg: Any, timeout: float, what: str) -> Any:
        if self._jobs is None:
            self._jobs, self._results = queue.SimpleQueue(), queue.SimpleQueue()
            threading.Thread(target=_serve, args=(self._jobs, self._results), daemon=True,
                             name="interleave-call").start()
        self._jobs.put((fn, arg))
        try:
            ok, value = self._results.get(timeout=timeout)
        except queue.Empty:
            self.stop()  # abandon the busy thread with its queues: a late result goes nowhere
            raise BackendTimeoutError(f"{what} did not answer within {timeout:g} s (call abandoned)") from None
        if ok:
            return value
        raise value

    def stop(self) -> None:
        """Let the thread exit once its current call (if any) returns."""
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = self._results = None


def _serve(jobs: queue.SimpleQueue, results: queue.SimpleQueue) -> None:
    while (job := jobs.get()) is not None:
        fn, arg = job
        try:
            results.put((True, fn(arg)))
        except BaseException as exc:  # handed to the caller, which decides
            results.put((False, exc))


class GuidancePipeline:
    """Runs planner -> (generator -> critic)* per step. Holds no per-run state, so one instance
    may run several tasks, also from several threads if its backends allow that."""

    def __init__(self, planner: Planner, generator: Generator, critic: Critic | None = None,
                 config: PipelineConfig | None = None):
        self.planner = planner
        self.generator = generator
        self.critic = critic
        self.config = config or PipelineConfig()

    def run(self, task: Task | str, observation: Observation, listeners: Iterable[Listener] | None = None,
            store=None, robot: Robot | None = None) -> Trajectory:
        """Run the loop on one task; `store` (a RunStore) persists it as it goes and resumes it.
        With a `robot` and `loop == "closed"`, the robot executes each accepted step and the
        next step starts from what it reports (see the module docstring)."""
        if isinstance(task, str):
            task = Task(text=task)
        if not isinstance(observation, Observation):
            raise ConfigError(f"observation must be an Observation, got {type(observation).__name__}")
        check_image(observation.image, "observation image")
        closed = robot is not None and self.config.loop == "closed"
        if closed and not callable(getattr(robot, "execute", None)):
            raise ConfigError(f"robot must implement execute(step_result, step_index), got {type(robot).__name__}")
        if closed and store is not None and store.resuming:
            raise ConfigError("a closed-loop run with a robot cannot be resumed: the robot's scene after the "
                              "finished steps is not in the run directory; start a new run (or use loop open)")
        return _PipelineRun(self, task, observation, list(listeners or []), store,
                            robot if closed else None).execute()


class _PipelineRun:
    """The state of one run: trajectory, counters, listeners, the timeout worker."""

    def __init__(self, pipe: GuidancePipeline, task: Task, observation: Observation, listeners: list, store,
                 robot: Robot | None = None):
        self.pipe, self.cfg, self.store, self.robot = pipe, pipe.config, store, robot
        self.judged = pipe.critic is not None and pipe.config.use_critic
        self.traj = Trajectory(task=task, observation=observation)
        self.listeners = listeners
        self.worker = CallWorker()
        self.calls = 0
        self.capped_steps = 0
        self.timings = {"planner_s": 0.0, "generator_s": 0.0, "critic_s": 0.0}

    # --- plumbing ---
    def emit(self, kind: str, **payload) -> None:
        if not self.listeners:
            return
        event = Event(kind, payload)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a broken consumer must not break the run
                log.exception("listener %r raised on %s; detached", listener, kind)
                self.listeners.remove(listener)

    def call(self, fn: Callable, arg: Any, timeout: float | None, what: str) -> Any:
        # No timeout: call inline, no thread hop (this is the hot path of the benchmarks).
        return fn(arg) if timeout is None else self.worker.call(fn, arg, timeout, what)

    def cap_reached(self) -> bool:
        return self.cfg.max_generator_calls is not None and self.calls >= self.cfg.max_generator_calls

    # --- the loop ---
    def execute(self) -> Trajectory:
        start = time.perf_counter()
        traj = self.traj
        try:
            plan, done = self.store.start(traj.task, traj.observation) if self.store else (None, [])
            if done:
                traj.metadata["resumed_steps"] = len(done)
            if plan is None:
                plan = self.make_plan()
                if plan is None:
                    return self.finish(start)
                if self.store:
                    self.store.write_plan(plan)
            traj.plan = plan
            self.emit(PLAN_READY, plan=plan)
            self.calls = sum(len(s.attempts) for s in done)
            source, state = traj.observation.image, traj.observation.state
            index = 0
            while index < len(plan.steps):
                step = plan.steps[index]
                resumed = index < len(done)
                result = done[index] if resumed else self.run_step(step, source, state, plan)
                if not resumed and self.store:
                    self.store.append_step(result, index)
                traj.steps.append(result)
                accepted = result.accepted
                if accepted is not None and accepted.image is not None:
                    source, state = accepted.image, accepted.state
                self.emit(STEP_ACCEPTED, step_result=result, step_index=index, num_steps=len(plan.steps),
                          image=source, resumed=resumed)
                if self.robot is not None:
                    feedback = self.execute_step(result, index)
                    if feedback is None:
                        return self.finish(start)
                    source, state = feedback.observation.image, feedback.observation.state
                    if feedback.replan or not feedback.success:
                        plan = self.replan(plan, index, feedback)
                        if plan is None:
                            return self.finish(start)
                        traj.plan = plan
                index += 1
            traj.finished = True
            if self.capped_steps:
                traj.metadata["generator_call_cap"] = {"max_generator_calls": self.cfg.max_generator_calls,
                                                       "steps_cut_short": self.capped_steps}
            return self.finish(start)
        finally:
            self.worker.stop()

    def finish(self, start: float) -> Trajectory:
        self.traj.metadata["timings"] = dict(self.timings, total_s=time.perf_counter() - start)
        if self.store:
            self.store.finish(self.traj)
        self.emit(RUN_FINISHED, trajectory=self.traj)
        return self.traj

    def make_plan(self, observation: Observation | None = None, allow_empty: bool = False) -> Plan | None:
        """The planner's plan on `observation` (default: the run's), format errors retried; None
        (and trajectory.error) on failure. A re-plan may be empty: nothing is left to do."""
        tries = self.cfg.max_format_retries + 1
        observation = self.traj.observation if observation is None else observation
        t0 = time.perf_counter()
        try:
            for k in range(tries):
                try:
                    return _checked_plan(self.call(lambda obs: self.pipe.planner.plan(self.traj.task, obs),
                                                   observation, self.cfg.planner_timeout_s, "planner"), allow_empty)
                except OutputFormatError as exc:
                    log.info("planner answer out of format (try %d/%d): %s", k + 1, tries, exc)
                    last = exc
            self.traj.error = f"planner: no answer in format after {tries} tries: {_describe(last)}"
        except Exception as exc:  # a backend failure ends the run cleanly, with the reason
            _log_failure(exc, "planner failed: %s")
            self.traj.error = f"planner: {_describe(exc)}"
        finally:
            self.timings["planner_s"] += time.perf_counter() - t0
        return None

    # --- closed loop ---
    def execute_step(self, result: StepResult, index: int) -> StepFeedback | None:
        """The robot executes step `index`; None (and trajectory.error) when it broke."""
        t0 = time.perf_counter()
        try:
            feedback = self.robot.execute(result, index)
            if not isinstance(feedback, StepFeedback):
                raise BackendError(f"robot returned {type(feedback).__name__}, not a StepFeedback")
            if not isinstance(feedback.observation, Observation):
                raise BackendError("robot feedback carries no Observation")
            check_image(feedback.observation.image, "robot observation image")
        except Exception as exc:  # the robot is a backend too: the run ends with the reason, never crashes
            _log_failure(exc, "step %s: robot failed: %s", result.step.step_number)
            self.traj.error = f"step {result.step.step_number}: robot: {_describe(exc)}"
            return None
        finally:
            self.timings["robot_s"] = self.timings.get("robot_s", 0.0) + time.perf_counter() - t0
        self.traj.metadata.setdefault("executions", []).append(
            {"step_index": index, "step_number": result.step.step_number, **feedback.to_dict()})
        self.emit(STEP_EXECUTED, step_index=index, feedback=feedback)
        return feedback

    def replan(self, plan: Plan, index: int, feedback: StepFeedback) -> Plan | None:
        """Ask the planner again from the robot's current view; the new steps replace those after
        `index`. None (and trajectory.error) when the budget is spent or the planner fails."""
        number = plan.steps[index].step_number
        why = feedback.reason or ("the robot asked for a re-plan" if feedback.success else "the step failed")
        replans = self.traj.metadata.setdefault("replans", [])
        if len(replans) >= self.cfg.max_replans:
            self.traj.error = (f"step {number}: {why}; re-plan budget ({self.cfg.max_replans}) spent")
            return None
        fresh = self.make_plan(feedback.observation, allow_empty=True)
        if fresh is None:
            self.traj.error = f"re-plan after step {number}: {self.traj.error}"
            return None
        last = max(s.step_number for s in plan.steps[:index + 1])
        new_steps = [dataclasses.replace(s, step_number=last + 1 + i) for i, s in enumerate(fresh.steps)]
        replans.append({"after_step": number, "reason": why, "steps": [s.to_dict() for s in new_steps]})
        merged = Plan(steps=list(plan.steps[:index + 1]) + new_steps, raw_text=plan.raw_text,
                      metadata=dict(plan.metadata, replans=len(replans)))
        if self.store:
            self.store.write_plan(merged)
        self.emit(REPLANNED, plan=Plan(steps=new_steps, raw_text=fresh.raw_text, metadata=fresh.metadata), reason=why)
        return merged

    def run_step(self, step: PlanStep, source, state, plan: Plan) -> StepResult:
        result = StepResult(step=step)
        prompt, capped = step.prompt, False
        for index in range(self.cfg.max_attempts_per_step):
            if self.cap_reached():
                capped = True
                break
            attempt = self.attempt(step, index, prompt, source, state, plan)
            if self.store:
                self.store.append_attempt(attempt)
            result.attempts.append(attempt)
            self.emit(ATTEMPT_DONE, step=step, attempt=attempt)
            if attempt.image is None or attempt.error:
                continue  # nothing to judge, or the critic failed: try again with a new seed
            if not self.judged or attempt.verdict.success:
                result.accepted_index = index
                return result
            prompt = attempt.verdict.refine_prompt.strip() or prompt
        if capped:
            self.capped_steps += 1
        _flag_unapproved(result, capped, self.cfg.max_generator_calls)
        return result

    def attempt(self, step: PlanStep, index: int, prompt: str, source, state, plan: Plan) -> Attempt:
        """One generator call and, when it gave an image, the critic's verdict on it."""
        attempt = Attempt(step_number=step.step_number, attempt_index=index, prompt=prompt,
                          seed=attempt_seed(self.cfg.seed, step.step_number, index))
        self.calls += 1
        t0 = time.perf_counter()
        try:
            request = GenerationRequest(prompt=prompt, seed=attempt.seed, source_image=source,
                                        source_state=state, step=step)
            out = self.call(self.pipe.generator.generate, request, self.cfg.generator_timeout_s, "generator")
            if not isinstance(out, GenerationResult):
                raise BackendError(f"generator returned {type(out).__name__}, not a GenerationResult")
            attempt.image = check_image(out.image, "generated image")
            attempt.state, attempt.metadata = out.state, dict(out.metadata)
        except Exception as exc:  # recorded on the attempt: the run goes on
            _log_failure(exc, "step %s attempt %d: generator failed: %s", step.step_number, index)
            attempt.error = f"generator: {_describe(exc)}"
        attempt.generator_seconds = time.perf_counter() - t0
        self.timings["generator_s"] += attempt.generator_seconds
        if attempt.image is not None and self.judged:
            t0 = time.perf_counter()
            request = CritiqueRequest(before_image=source, after_image=attempt.image, instruction=step.instruction,
                                      prompt=prompt, step=step, plan=plan, task_text=self.traj.task.text,
                                      inventory=list(self.traj.observation.inventory),
                                      camera=self.traj.observation.camera)
            try:
                attempt.verdict = self.critique(request)
            except Exception as exc:
                _log_failure(exc, "step %s attempt %d: critic failed: %s", step.step_number, index)
                attempt.error = f"critic: {_describe(exc)}"
            attempt.critic_seconds = time.perf_counter() - t0
            self.timings["critic_s"] += attempt.critic_seconds
        return attempt

    def critique(self, request: CritiqueRequest) -> Verdict:
        tries = self.cfg.max_format_retries + 1
        for k in range(tries):
            try:
                verdict = self.call(self.pipe.critic.critique, request, self.cfg.critic_timeout_s, "critic")
            except OutputFormatError as exc:
                log.info("critic answer out of format (try %d/%d): %s", k + 1, tries, exc)
                last = exc
                continue
            if not isinstance(verdict, Verdict):
                raise BackendError(f"critic returned {type(verdict).__name__}, not a Verdict")
            return verdict
        raise OutputFormatError(f"no answer in format after {tries} tries: {_describe(last)}")


def _checked_plan(plan: Any, allow_empty: bool = False) -> Plan:
    """A planner's output must be a non-empty Plan with distinct step numbers (they name files)."""
    if not isinstance(plan, Plan):
        raise BackendError(f"planner returned {type(plan).__name__}, not a Plan")
    if not plan.steps and not allow_empty:
        raise OutputFormatError("the plan has no steps")
    numbers = [s.step_number for s in plan.steps]
    if len(set(numbers)) != len(numbers):
        raise OutputFormatError(f"the plan repeats step numbers: {numbers}")
    return plan


def _flag_unapproved(result: StepResult, capped: bool, cap: int | None) -> None:
    """Accept the last image of a step the critic never approved, and say why it is flagged."""
    attempts = result.attempts
    rejected = sum(1 for a in attempts if a.verdict is not None and not a.verdict.success)
    failed = [a.error for a in attempts if a.error]
    why = [f"generator call cap ({cap}) reached"] if capped else []
    if rejected:
        why.append(f"{rejected} of {len(attempts)} attempts rejected by the critic")
    if failed:
        why.append(f"{len(failed)} failed (last: {failed[-1]})")
    with_image = [i for i, a in enumerate(attempts) if a.image is not None]
    result.flagged = True
    if with_image:
        result.accepted_index = with_image[-1]
        why.append(f"attempt {with_image[-1]}'s image accepted without approval")
    else:
        why.append("no attempt produced an image; the source image is carried forward")
    result.flag_reason = "; ".join(why)

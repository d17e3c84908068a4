"""The guidance node's logic, transport-neutral: camera + task in, plan and subgoals out.

Topics (defaults are the contract; all remappable through the config):
  in   /camera/image_raw            sensor_msgs/Image (or CompressedImage)  sensor data QoS
  in   /interleave/task             std_msgs/String (text, or JSON with text/family/spec/id/seed)
  in   (optional) context topic     std_msgs/String JSON camera model + sim state per frame
  out  /interleave/plan             std_msgs/String JSON plan        reliable, transient local
  out  /interleave/subgoal/image    sensor_msgs/Image per accepted step   reliable
  out  /interleave/subgoal/text     std_msgs/String instruction per accepted step
  out  /interleave/status           std_msgs/String JSON progress and errors
  out  (optional) subgoal topic     interleave_robot_interfaces/Subgoal: image + text in one message
  in   /interleave/step_done        std_msgs/String JSON StepDone (loop "closed" only)   reliable

Loop "closed" (the default): after publishing step k's subgoal the node waits for the robot
to report it done on the step-done topic (context.StepDone: task id, step, success, the stamp
of the frame it published afterwards), then generates step k+1 from that camera frame (and
its observation context), re-planning when the robot reports a failure or asks for it
(PipelineConfig.max_replans). Loop "open": the paper's loop, each step edits the previous
step's accepted image and the node never waits for the robot.

A task that carries a "seed" (the sim bridge sends each episode's) runs with that seed as its
pipeline seed and its planner's seed, as `demo` seeds both from the episode seed; a task
without one runs with the node's configured seeds.

Only the latest camera frame is kept (never a backlog): a task runs on the newest valid
frame at the moment it starts. Tasks run one at a time on a worker thread; a task that
arrives while one runs is refused on the status topic ("busy"). Every bad input (a frame
whose fields disagree with its data, an empty task, bad JSON) becomes an "error" status
and the node keeps running.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
import traceback
from dataclasses import dataclass

from interleave_robot.errors import ConfigError, InterleaveError
from interleave_robot.agents import Robot
from interleave_robot.errors import BackendTimeoutError
from interleave_robot.events import ATTEMPT_DONE, PLAN_READY, REPLANNED, RUN_FINISHED, STEP_ACCEPTED, STEP_EXECUTED, Event
from interleave_robot.pipeline import LOOPS, GuidancePipeline
from interleave_robot.types import Observation, StepFeedback, StepResult, Task
from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.context import MessageError, StateCodec, StepDone, parse_context, parse_step_done, parse_task
from interleave_robot.ros_nodes.conversion import ENCODINGS, check_image_msg, compressed_to_numpy, image_to_numpy, make_header, numpy_to_image
from interleave_robot.ros_nodes.messages import CompressedImage, Image, String, Subgoal
from interleave_robot.ros_nodes.transport import Transport

MAX_CONTEXTS = 16  # observation contexts kept, to pair with a frame of the same stamp


@dataclass
class GuidanceNodeConfig:
    """Topic names, input options and waits of the guidance node (ROS parameters of the same names)."""

    camera_topic: str = "/camera/image_raw"
    compressed_camera: bool = False  # subscribe sensor_msgs/CompressedImage instead of Image
    task_topic: str = "/interleave/task"
    plan_topic: str = "/interleave/plan"
    subgoal_image_topic: str = "/interleave/subgoal/image"
    subgoal_text_topic: str = "/interleave/subgoal/text"
    status_topic: str = "/interleave/status"
    context_topic: str = ""  # "" = no observation context (camera model / sim state)
    subgoal_topic: str = ""  # e.g. /interleave/subgoal: also publish interleave_robot_interfaces/Subgoal
    state_codec: str = "none"  # how the context's simulator state is decoded (context.STATE_CODECS)
    output_encoding: str = "rgb8"
    frame_id: str = "interleave_subgoal"
    frame_wait_s: float = 5.0  # how long a task waits for a first frame (and its context)
    loop: str = "closed"  # "closed": wait for the robot's step-done before each next step; "open"
    step_done_topic: str = "/interleave/step_done"
    step_timeout_s: float = 600.0  # closed loop: how long to wait for the robot to finish a step

    def __post_init__(self):
        if self.loop not in LOOPS:
            raise ConfigError(f"GuidanceNodeConfig.loop must be one of {', '.join(LOOPS)}, got {self.loop!r}")
        if not 0 < self.step_timeout_s <= 86400:
            raise ConfigError(f"GuidanceNodeConfig.step_timeout_s must be in (0, 86400], got {self.step_timeout_s}")
        if self.output_encoding not in ENCODINGS:
            raise ConfigError(f"GuidanceNodeConfig.output_encoding must be one of {list(ENCODINGS)}, "
                              f"got {self.output_encoding!r}")
        if not 0 <= self.frame_wait_s <= 3600:
            raise ConfigError(f"GuidanceNodeConfig.frame_wait_s must be in [0, 3600], got {self.frame_wait_s}")
        for name in ("camera_topic", "task_topic", "plan_topic", "subgoal_image_topic", "subgoal_text_topic",
                     "status_topic", "step_done_topic"):
            if not self.__dict__[name].startswith("/"):
                raise ConfigError(f"GuidanceNodeConfig.{name} must be an absolute topic name, "
                                  f"got {self.__dict__[name]!r}")


def stamp_ns(msg) -> int:
    return msg.header.stamp.to_nanoseconds()


def seeded_pipeline(pipeline: GuidancePipeline, seed: int | None) -> GuidancePipeline:
    """The pipeline one task runs with. For a task with a seed: the same backends with
    PipelineConfig.seed and the planner's own seed set to it (sim_envs/episode.py seeds both
    from the episode seed). The planner is re-seeded where its `config` is a dataclass with a
    `seed` field (the teacher's TeacherConfig): a shallow copy with that config, sharing what
    the planner loaded (the copy is never closed; the original owns it). Other planners
    (remote ones, the static planner) are used as they are. Without a seed: `pipeline`."""
    if seed is None:
        return pipeline
    run = copy.copy(pipeline)  # GuidancePipeline holds no per-run state: a copy shares the backends
    run.config = dataclasses.replace(pipeline.config, seed=seed)
    planner_config = getattr(pipeline.planner, "config", None)
    if dataclasses.is_dataclass(planner_config) and "seed" in {f.name for f in dataclasses.fields(planner_config)}:
        run.planner = copy.copy(pipeline.planner)
        run.planner.config = dataclasses.replace(planner_config, seed=seed)
    return run


class GuidanceLogic:
    """Wires a GuidancePipeline to topics. `start()` creates the endpoints, `close()` stops."""

    def __init__(self, transport: Transport, pipeline: GuidancePipeline, config: GuidanceNodeConfig | None = None):
        self.transport = transport
        self.pipeline = pipeline
        self.config = config or GuidanceNodeConfig()
        self.codec = StateCodec(self.config.state_codec)
        self._lock = threading.Condition()
        self._frame = None  # latest valid camera message
        self._contexts: dict[int, tuple] = {}
        self._worker: threading.Thread | None = None
        self._closed = False
        self._paused = False
        self._last_frame_error: str | None = None
        self._endpoints: list = []  # publishers and subscriptions this logic opened
        self._step_reports: dict[tuple[str, int], StepDone] = {}
        self.runs = 0  # finished runs, for tests and diagnostics
        self.last_trajectory = None  # the latest run's Trajectory (in-process consumers: ros-demo)
        self.overhead_s: list[float] = []  # per-step node time outside the pipeline (benchmarks)

    def start(self) -> "GuidanceLogic":
        """Create the endpoints; if one cannot be made (e.g. the Subgoal type is missing), the
        ones made so far are closed again and the error propagates: nothing is left behind."""
        c, t = self.config, self.transport
        try:
            self._status = self._own(t.publisher(c.status_topic, String, qos.RELIABLE))
            self._plan = self._own(t.publisher(c.plan_topic, String, qos.LATCHED))
            self._sub_image = self._own(t.publisher(c.subgoal_image_topic, Image, qos.RELIABLE))
            self._sub_text = self._own(t.publisher(c.subgoal_text_topic, String, qos.RELIABLE))
            self._subgoal = self._own(t.publisher(c.subgoal_topic, Subgoal, qos.RELIABLE)) if c.subgoal_topic else None
            camera_type = CompressedImage if c.compressed_camera else Image
            self._own(t.subscribe(c.camera_topic, camera_type, qos.SENSOR_DATA, self.on_camera))
            self._own(t.subscribe(c.task_topic, String, qos.RELIABLE, self.on_task))
            if c.context_topic:
                self._own(t.subscribe(c.context_topic, String, qos.RELIABLE, self.on_context))
            if c.loop == "closed":
                self._own(t.subscribe(c.step_done_topic, String, qos.RELIABLE, self.on_step_done))
        except Exception:
            self._close_endpoints()
            raise
        return self

    def _own(self, endpoint):
        self._endpoints.append(endpoint)
        return endpoint

    def _close_endpoints(self) -> None:
        while self._endpoints:
            self._endpoints.pop().close()

    # --- inputs (transport threads: quick) ---
    def on_camera(self, msg) -> None:
        try:
            if isinstance(msg, Image):
                check_image_msg(msg)  # cheap field checks; pixels are converted when a task starts
        except InterleaveError as exc:
            text = f"camera frame rejected: {exc}"
            if text != self._last_frame_error:  # one status per new problem, not one per frame
                self.publish_status("error", error=text)
            self._last_frame_error = text
            return
        self._last_frame_error = None
        with self._lock:
            self._frame = msg
            self._lock.notify_all()

    def on_context(self, msg: String) -> None:
        try:
            stamp, camera, state, inventory = parse_context(msg.data, self.codec)
        except InterleaveError as exc:
            self.publish_status("error", error=f"observation context rejected: {exc}")
            return
        with self._lock:
            self._contexts[stamp] = (camera, state, inventory)
            while len(self._contexts) > MAX_CONTEXTS:
                self._contexts.pop(next(iter(self._contexts)))
            self._lock.notify_all()

    def on_step_done(self, msg: String) -> None:
        try:
            report = parse_step_done(msg.data)
        except MessageError as exc:
            self.publish_status("error", error=f"step done rejected: {exc}")
            return
        with self._lock:
            self._step_reports[(report.task_id, report.step)] = report
            while len(self._step_reports) > MAX_CONTEXTS:
                self._step_reports.pop(next(iter(self._step_reports)))
            self._lock.notify_all()

    def wait_step_done(self, task_id: str, step: int) -> StepDone:
        """The robot's report for (task, 1-based step); BackendTimeoutError after step_timeout_s."""
        deadline = time.monotonic() + self.config.step_timeout_s
        with self._lock:
            while (report := self._step_reports.pop((task_id, step), None)) is None:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise BackendTimeoutError(f"no step done for step {step} within {self.config.step_timeout_s:g} s "
                                              f"(topic {self.config.step_done_topic})")
                self._lock.wait(left)
        return report

    def on_task(self, msg: String) -> None:
        try:
            task, task_id, seed = parse_task(msg.data)
        except MessageError as exc:
            self.publish_status("error", error=f"task rejected: {exc}")
            return
        with self._lock:
            if self._closed:
                return
            if self._paused:
                self.publish_status("error", task_id=task_id, error="inactive: the node is not active; task refused")
                return
            if self._worker is not None and self._worker.is_alive():
                self.publish_status("error", task_id=task_id, error="busy: a task is already running; task refused")
                return
            self.publish_status("received", task_id=task_id, task=task.text, seed=seed)
            self._worker = threading.Thread(target=self._run, args=(task, task_id, seed), daemon=True,
                                            name="guidance-run")
            self._worker.start()

    # --- the run (worker thread) ---
    def observation(self, after_ns: int = 0) -> Observation:
        """The latest frame stamped at or after `after_ns` (and its context) as an Observation;
        waits up to frame_wait_s."""
        deadline = time.monotonic() + self.config.frame_wait_s
        with self._lock:
            while True:
                frame = self._frame
                if frame is not None and stamp_ns(frame) < after_ns:
                    frame = None  # older than the view the robot reported: wait for the newer one
                context = self._contexts.get(stamp_ns(frame)) if frame is not None else None
                if frame is not None and (context is not None or not self.config.context_topic):
                    break
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    what, topic = ((("camera frame", self.config.camera_topic)) if frame is None else
                                   ("observation context for the latest frame", self.config.context_topic))
                    raise MessageError(f"no {what} within {self.config.frame_wait_s:g} s (topic {topic})")
                self._lock.wait(left)
        image = compressed_to_numpy(frame) if isinstance(frame, CompressedImage) else image_to_numpy(frame)
        camera, state, inventory = context if context is not None else (None, None, [])
        return Observation(image=image, camera=camera, state=state, timestamp=stamp_ns(frame) * 1e-9,
                           inventory=inventory)

    def _run(self, task: Task, task_id: str | None, seed: int | None = None) -> None:
        try:
            observation = self.observation()
        except InterleaveError as exc:
            self.publish_status("error", task_id=task_id, error=str(exc))
            return
        listener = _RunListener(self, task_id)
        robot = _TopicRobot(self, task_id or "") if self.config.loop == "closed" else None
        try:
            trajectory = seeded_pipeline(self.pipeline, seed).run(task, observation, listeners=[listener],
                                                                  robot=robot)
        except Exception as exc:  # the node outlives any run
            self.transport.logger.error(f"guidance run failed: {traceback.format_exc()}")
            self.publish_status("error", task_id=task_id, error=f"run failed: {type(exc).__name__}: {exc}")
            return
        finally:
            self.runs += 1
        self.last_trajectory = trajectory
        if trajectory.error:
            self.publish_status("error", task_id=task_id, error=trajectory.error)

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the running task (if any) to finish; False on timeout."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    # --- outputs ---
    def publish_status(self, event: str, **fields) -> None:
        payload = {"event": event, "time": time.time(), **{k: v for k, v in fields.items() if v is not None}}
        if event == "error":  # on /rosout too under rclpy (issue 11 item 10)
            self.transport.logger.error(f"status error: {fields.get('error')}")
        self._status.publish(String(data=json.dumps(payload)))

    def pause(self) -> None:
        """Refuse new tasks (lifecycle deactivate); a running task finishes."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new tasks, let a running one finish (up to `timeout`), close the endpoints.
        Idempotent. The pipeline (its models) is the owner's to close."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self.wait_idle(timeout)
        self._close_endpoints()


class _TopicRobot(Robot):
    """The robot at the other end of the topics: its step-done report, then its next frame."""

    def __init__(self, logic: GuidanceLogic, task_id: str):
        self.logic, self.task_id = logic, task_id

    def execute(self, step_result: StepResult, step_index: int) -> StepFeedback:
        report = self.logic.wait_step_done(self.task_id, step_index + 1)
        observation = self.logic.observation(after_ns=report.stamp_ns)
        return StepFeedback(observation=observation, success=report.success, replan=report.replan,
                            reason=report.reason)


class _RunListener:
    """Turns pipeline events of one run into plan / subgoal / status messages."""

    def __init__(self, logic: GuidanceLogic, task_id: str | None):
        self.logic, self.task_id = logic, task_id
        self.num_steps = 0

    def __call__(self, event: Event) -> None:
        logic, p = self.logic, event.payload
        if event.kind == PLAN_READY:
            plan = p["plan"]
            self.num_steps = len(plan.steps)
            logic._plan.publish(String(data=json.dumps({"task_id": self.task_id, **plan.to_dict()})))
            logic.publish_status("plan", task_id=self.task_id, num_steps=self.num_steps, loop=logic.config.loop)
        elif event.kind == REPLANNED:
            plan = p["plan"]
            self.num_steps = len(plan.steps)
            logic._plan.publish(String(data=json.dumps({"task_id": self.task_id, **plan.to_dict()})))
            logic.publish_status("replanned", task_id=self.task_id, num_steps=self.num_steps, reason=p["reason"])
        elif event.kind == STEP_EXECUTED:
            feedback = p["feedback"]
            logic.publish_status("executed", task_id=self.task_id, step=p["step_index"] + 1,
                                 success=feedback.success, replan=feedback.replan, reason=feedback.reason or None)
        elif event.kind == ATTEMPT_DONE:
            attempt = p["attempt"]
            verdict = attempt.verdict
            logic.publish_status("attempt", task_id=self.task_id, step=p["step"].step_number,
                                 num_steps=self.num_steps, attempt=attempt.attempt_index + 1,
                                 verdict=None if verdict is None else verdict.success,
                                 reason=None if verdict is None else verdict.reason, error=attempt.error)
        elif event.kind == STEP_ACCEPTED:
            t0 = time.perf_counter()
            result, index = p["step_result"], p["step_index"]
            header = make_header(time.time(), logic.config.frame_id)
            image = numpy_to_image(p["image"], header, logic.config.output_encoding)
            logic._sub_image.publish(image)
            logic._sub_text.publish(String(data=result.step.instruction))
            if logic._subgoal is not None:
                accepted = result.accepted
                logic._subgoal.publish(Subgoal(
                    header=header, task_id=self.task_id or "", step_index=index + 1, num_steps=p["num_steps"],
                    instruction=result.step.instruction, prompt=accepted.prompt if accepted else result.step.prompt,
                    image=image, flagged=result.flagged, flag_reason=result.flag_reason or ""))
            logic.publish_status("step", task_id=self.task_id, step=index + 1, num_steps=p["num_steps"],
                                 instruction=result.step.instruction, attempts=len(result.attempts),
                                 flagged=result.flagged, flag_reason=result.flag_reason)
            logic.overhead_s.append(time.perf_counter() - t0)
        elif event.kind == RUN_FINISHED:
            traj = p["trajectory"]
            logic.publish_status("finished", task_id=self.task_id, finished=traj.finished,
                                 num_steps=len(traj.steps), generator_calls=traj.generator_calls,
                                 critic_rejections=traj.critic_rejections,
                                 flagged_steps=sum(1 for s in traj.steps if s.flagged), error=traj.error)

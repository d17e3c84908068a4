"""The guidance node's logic, transport-neutral: camera + task in, plan and subgoals out.

Topics (defaults are the contract; all remappable through the config):
  in   /camera/image_raw            sensor_msgs/Image (or CompressedImage)  sensor data QoS
  in   /interleave/task             std_msgs/String (text, or JSON with text/family/spec)
  in   (optional) context topic     std_msgs/String JSON camera model + sim state per frame
  out  /interleave/plan             std_msgs/String JSON plan        reliable, transient local
  out  /interleave/subgoal/image    sensor_msgs/Image per accepted step   reliable
  out  /interleave/subgoal/text     std_msgs/String instruction per accepted step
  out  /interleave/status           std_msgs/String JSON progress and errors
  out  (optional) subgoal topic     interleave_robot_interfaces/Subgoal: image + text in one message

Only the latest camera frame is kept (never a backlog): a task runs on the newest valid
frame at the moment it starts. Tasks run one at a time on a worker thread; a task that
arrives while one runs is refused on the status topic ("busy"). Every bad input (a frame
whose fields disagree with its data, an empty task, bad JSON) becomes an "error" status
and the node keeps running.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from interleave_robot.errors import ConfigError, InterleaveError
from interleave_robot.events import ATTEMPT_DONE, PLAN_READY, RUN_FINISHED, STEP_ACCEPTED, Event
from interleave_robot.pipeline import GuidancePipeline
from interleave_robot.types import Observation, Task
from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.context import MessageError, StateCodec, parse_context, parse_task
from interleave_robot.ros_nodes.conversion import ENCODINGS, check_image_msg, compressed_to_numpy, image_to_numpy, make_header, numpy_to_image
from interleave_robot.ros_nodes.messages import CompressedImage, Image, String, Subgoal
from interleave_robot.ros_nodes.transport import Transport

log = logging.getLogger(__name__)
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

    def __post_init__(self):
        if self.output_encoding not in ENCODINGS:
            raise ConfigError(f"GuidanceNodeConfig.output_encoding must be one of {list(ENCODINGS)}, "
                              f"got {self.output_encoding!r}")
        if not 0 <= self.frame_wait_s <= 3600:
            raise ConfigError(f"GuidanceNodeConfig.frame_wait_s must be in [0, 3600], got {self.frame_wait_s}")
        for name in ("camera_topic", "task_topic", "plan_topic", "subgoal_image_topic", "subgoal_text_topic",
                     "status_topic"):
            if not self.__dict__[name].startswith("/"):
                raise ConfigError(f"GuidanceNodeConfig.{name} must be an absolute topic name, "
                                  f"got {self.__dict__[name]!r}")


def stamp_ns(msg) -> int:
    return msg.header.stamp.to_nanoseconds()


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
        self.runs = 0  # finished runs, for tests and diagnostics
        self.last_trajectory = None  # the latest run's Trajectory (in-process consumers: ros-demo)
        self.overhead_s: list[float] = []  # per-step node time outside the pipeline (benchmarks)

    def start(self) -> "GuidanceLogic":
        c, t = self.config, self.transport
        self._status = t.publisher(c.status_topic, String, qos.RELIABLE)
        self._plan = t.publisher(c.plan_topic, String, qos.LATCHED)
        self._sub_image = t.publisher(c.subgoal_image_topic, Image, qos.RELIABLE)
        self._sub_text = t.publisher(c.subgoal_text_topic, String, qos.RELIABLE)
        self._subgoal = t.publisher(c.subgoal_topic, Subgoal, qos.RELIABLE) if c.subgoal_topic else None
        camera_type = CompressedImage if c.compressed_camera else Image
        t.subscribe(c.camera_topic, camera_type, qos.SENSOR_DATA, self.on_camera)
        t.subscribe(c.task_topic, String, qos.RELIABLE, self.on_task)
        if c.context_topic:
            t.subscribe(c.context_topic, String, qos.RELIABLE, self.on_context)
        return self

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
            stamp, camera, state = parse_context(msg.data, self.codec)
        except InterleaveError as exc:
            self.publish_status("error", error=f"observation context rejected: {exc}")
            return
        with self._lock:
            self._contexts[stamp] = (camera, state)
            while len(self._contexts) > MAX_CONTEXTS:
                self._contexts.pop(next(iter(self._contexts)))
            self._lock.notify_all()

    def on_task(self, msg: String) -> None:
        try:
            task, task_id = parse_task(msg.data)
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
            self.publish_status("received", task_id=task_id, task=task.text)
            self._worker = threading.Thread(target=self._run, args=(task, task_id), daemon=True,
                                            name="guidance-run")
            self._worker.start()

    # --- the run (worker thread) ---
    def _observation(self) -> Observation:
        """The latest frame (and its context) as an Observation; waits up to frame_wait_s."""
        deadline = time.monotonic() + self.config.frame_wait_s
        with self._lock:
            while True:
                frame = self._frame
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
        camera, state = context if context is not None else (None, None)
        return Observation(image=image, camera=camera, state=state, timestamp=stamp_ns(frame) * 1e-9)

    def _run(self, task: Task, task_id: str | None) -> None:
        try:
            observation = self._observation()
        except InterleaveError as exc:
            self.publish_status("error", task_id=task_id, error=str(exc))
            return
        listener = _RunListener(self, task_id)
        try:
            trajectory = self.pipeline.run(task, observation, listeners=[listener])
        except Exception as exc:  # the node outlives any run
            log.exception("guidance run failed")
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
        if event == "error":
            log.warning("status error: %s", fields.get("error"))
        self._status.publish(String(data=json.dumps(payload)))

    def pause(self) -> None:
        """Refuse new tasks (lifecycle deactivate); a running task finishes."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()


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
            logic.publish_status("plan", task_id=self.task_id, num_steps=self.num_steps)
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

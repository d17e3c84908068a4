"""The sim bridge: the MuJoCo tabletop env as a robot on topics, closing the guidance loop.

It publishes the env camera (with an observation context carrying the camera model and the
simulator snapshot, for the sim generator and the privileged teacher), publishes the task
(with the episode's seed, which the guidance node runs it with), then follows each subgoal
image the guidance node sends with the visual-subgoal executor, in order, publishing a fresh
frame after every executed step and then a step-done report (context.StepDone, with that
frame's stamp): in the guidance node's closed loop the next subgoal is generated from that
frame. The executor finds what to move and where from the subgoal image and the current
observation only. A failed step ends the episode in the open loop (as `demo` does); in the
closed loop it is reported and the guidance node re-plans.

Env access stays on the bridge's own thread (frames are rendered there and re-sent while
waiting), so MuJoCo is never driven from a transport callback.
"""
from __future__ import annotations

import json
import queue
import time
from dataclasses import dataclass, field

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.context import StateCodec, StepDone, context_message, task_message
from interleave_robot.ros_nodes.conversion import image_to_numpy, make_header, numpy_to_image
from interleave_robot.ros_nodes.messages import Image, String
from interleave_robot.ros_nodes.transport import Transport

REPUBLISH_S = 0.5  # while waiting, the current frame is sent again this often (best-effort topic)


@dataclass
class SimBridgeConfig:
    family: str = "stack"
    seed: int = 0
    steps: int = 0  # task steps; 0: the family's random range (as `demo`)
    image_size: int = 128
    camera_topic: str = "/camera/image_raw"
    context_topic: str = "/interleave/sim/context"
    task_topic: str = "/interleave/task"
    subgoal_image_topic: str = "/interleave/subgoal/image"
    subgoal_text_topic: str = "/interleave/subgoal/text"
    status_topic: str = "/interleave/status"
    step_done_topic: str = "/interleave/step_done"
    frame_id: str = "front_camera"
    discovery_timeout_s: float = 15.0  # wait for the guidance node's subscriptions
    step_timeout_s: float = 300.0  # wait for the next subgoal (or the end of the run)
    executor_options: dict = field(default_factory=dict)

    def __post_init__(self):
        from interleave_robot.sim_envs.registration import ENV_IDS

        if self.family not in ENV_IDS:
            raise ConfigError(f"SimBridgeConfig.family must be one of {list(ENV_IDS)}, got {self.family!r}")
        for name in ("discovery_timeout_s", "step_timeout_s"):
            if not 0 < self.__dict__[name] <= 86400:
                raise ConfigError(f"SimBridgeConfig.{name} must be in (0, 86400], got {self.__dict__[name]}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"SimBridgeConfig.seed must be an integer >= 0, got {self.seed!r}")


@dataclass
class BridgeResult:
    """One closed-loop episode over topics; `execution` and `failure` as in sim_envs.episode."""

    success: bool
    family: str
    seed: int
    task: str
    num_steps: int = 0
    execution: list = field(default_factory=list)  # the executor's result per followed subgoal
    guidance: dict = field(default_factory=dict)  # the node's "finished" status
    failure: str | None = None
    env_steps: int = 0
    seconds: float = 0.0
    initial_image: object = field(default=None, repr=False)
    final_image: object = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("initial_image", "final_image")}


class SimBridge:
    """One env, one episode at a time: `run_episode()` returns a BridgeResult."""

    def __init__(self, transport: Transport, config: SimBridgeConfig | None = None, env=None, executor=None):
        import gymnasium as gym

        from interleave_robot.sim_envs.executor import ExecutorConfig, SubgoalExecutor
        from interleave_robot.sim_envs.registration import env_id

        self.config = config or SimBridgeConfig()
        # The registered env (with Gymnasium's wrappers), exactly what `demo` drives.
        self.env = env or gym.make(env_id(self.config.family), image_size=self.config.image_size)
        self.executor = executor or SubgoalExecutor(ExecutorConfig(**self.config.executor_options))
        self.codec = StateCodec("sim")
        c = self.config
        self._camera = transport.publisher(c.camera_topic, Image, qos.SENSOR_DATA)
        self._context = transport.publisher(c.context_topic, String, qos.RELIABLE)
        self._task = transport.publisher(c.task_topic, String, qos.RELIABLE)
        self._step_done = transport.publisher(c.step_done_topic, String, qos.RELIABLE)
        self._events: queue.Queue = queue.Queue()
        transport.subscribe(c.subgoal_image_topic, Image, qos.RELIABLE, lambda m: self._events.put(("image", m)))
        transport.subscribe(c.subgoal_text_topic, String, qos.RELIABLE, lambda m: self._events.put(("text", m)))
        transport.subscribe(c.status_topic, String, qos.RELIABLE, lambda m: self._events.put(("status", m)))
        self._frame: Image | None = None
        self._obs = self._info = None  # the latest Gymnasium (obs, info), handed to the executor as demo's robot does
        self._stamp = 0.0
        self._stopped = False
        self._closed = False

    def _wait_matched(self) -> None:
        deadline = time.monotonic() + self.config.discovery_timeout_s
        for pub, topic in ((self._camera, self.config.camera_topic), (self._context, self.config.context_topic),
                           (self._task, self.config.task_topic)):
            while pub.matched_count() == 0:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no guidance node subscribed to {topic} within "
                                       f"{self.config.discovery_timeout_s:g} s")
                time.sleep(0.01)

    def publish_frame(self) -> None:
        """Render the env's current frame and publish it with its observation context."""
        obs = self.env.unwrapped.observation()
        self._stamp = max(time.time(), self._stamp + 1e-6)  # strictly increasing: pairs frame and context
        header = make_header(self._stamp, self.config.frame_id)
        # The context first: the node pairs a frame with the context of the same stamp.
        self._context.publish(String(context_message(header.stamp.to_nanoseconds(), obs.camera, obs.state,
                                                     self.codec, obs.inventory)))
        self._frame = numpy_to_image(obs.image, header)
        self._camera.publish(self._frame)

    def _next(self, deadline: float):
        """The next event from the guidance node; re-sends the frame while waiting."""
        while True:
            left = deadline - time.monotonic()
            if self._stopped:
                raise RuntimeError("stopped")
            if left <= 0:
                raise TimeoutError(f"no subgoal or status from the guidance node within "
                                   f"{self.config.step_timeout_s:g} s")
            try:
                return self._events.get(timeout=min(REPUBLISH_S, left))
            except queue.Empty:
                if self._frame is not None:
                    self._camera.publish(self._frame)

    def run_episode(self, task_id: str | None = None, seed: int | None = None) -> BridgeResult:
        """Reset (to `seed`, default the config's), publish frame and task, follow each subgoal
        in order until the run ends, the executor fails in the open loop (as in `demo`, the
        episode stops there) or a wait times out."""
        start = time.perf_counter()
        c = self.config
        seed = c.seed if seed is None else seed
        while not self._events.empty():  # leftovers of an earlier episode
            self._events.get_nowait()
        self._obs, self._info = self.env.reset(seed=seed, options={"steps": c.steps} if c.steps else None)
        task = self._info["task"]
        task_id = task_id or f"{c.family}-{seed}-{time.time_ns()}"
        result = BridgeResult(success=False, family=c.family, seed=seed, task=task.text)
        try:
            self._wait_matched()
            self.publish_frame()
            result.initial_image = image_to_numpy(self._frame)
            # The seed too: the guidance node runs this episode with it (planner and pipeline), as `demo` does.
            self._task.publish(String(task_message(task, task_id, seed)))
            self._follow_run(task_id, result)
        except (TimeoutError, RuntimeError) as exc:
            result.failure = str(exc)
        result.success = bool(self.env.unwrapped.is_success())
        if not result.success and result.failure is None:
            result.failure = "every step executed but the task predicate does not hold"
        if result.success:
            result.failure = None
        result.final_image = self.env.unwrapped.observation().image
        result.seconds = time.perf_counter() - start
        return result

    def _follow_run(self, task_id: str, result: BridgeResult) -> None:
        images, texts, finished, self._closed_loop = [], [], False, False
        deadline = time.monotonic() + self.config.step_timeout_s
        # Status and subgoals travel on different topics: "finished" may overtake the last
        # subgoal, so the loop ends when every step of the run has been followed.
        while not (finished and len(result.execution) >= result.num_steps):
            kind, msg = self._next(deadline)
            if kind == "status":
                status = json.loads(msg.data)
                if status.get("task_id") != task_id:
                    continue  # errors about other tasks or bad frames are not ours to stop on
                if status["event"] == "error":
                    raise RuntimeError(f"guidance node: {status.get('error')}")
                if status["event"] == "plan":
                    result.num_steps = status["num_steps"]
                    self._closed_loop = status.get("loop") == "closed"
                if status["event"] == "finished":
                    finished, result.guidance = True, status
                    result.num_steps = status["num_steps"]
                    if status.get("error"):
                        raise RuntimeError(f"guidance run failed: {status['error']}")
                continue
            (images if kind == "image" else texts).append(msg)
            while images and texts:  # the node sends each step's image, then its text
                if not self._follow(image_to_numpy(images.pop(0)), texts.pop(0).data, task_id, result):
                    if not self._closed_loop:
                        return
                deadline = time.monotonic() + self.config.step_timeout_s

    def _follow(self, subgoal, instruction: str, task_id: str, result: BridgeResult) -> bool:
        """Execute one subgoal and report it done; False when the executor failed."""
        step = len(result.execution) + 1
        out = self.executor.execute(self.env, subgoal, instruction, obs=self._obs, info=self._info)
        self._obs, self._info = out.obs, out.info
        result.env_steps += out.env_steps
        result.execution.append({"step": step, "success": out.success, "reason": out.reason,
                                 "moved_object": out.moved_object, "target_xyz": out.target_xyz,
                                 "env_steps": out.env_steps})
        self.publish_frame()
        self._step_done.publish(String(StepDone(task_id=task_id, step=step, success=bool(out.success),
                                                reason="" if out.success else f"executor: {out.reason}",
                                                stamp_ns=self._frame.header.stamp.to_nanoseconds()).to_message()))
        if not out.success:
            result.failure = f"step {step}: executor: {out.reason}"
        return out.success

    def stop(self) -> None:
        """Make a running episode end at its next wait (Ctrl-C); thread-safe."""
        self._stopped = True

    @property
    def stopped(self) -> bool:
        return self._stopped

    def close(self) -> None:
        """Close the env (its renderer). Idempotent; call after the episode thread ended."""
        if not self._closed:
            self._closed = True
            self.env.close()

"""Split mode: planner, generator and critic as separate nodes talking over topics.

`AgentServer` serves one agent (any registered backend) on `<prefix>/<role>/request` and
answers on `<prefix>/<role>/response`; it follows the lifecycle pattern of model-loading
nodes: `configure()` builds (loads) the backend, `activate()` opens the topics,
`deactivate()` closes them, `cleanup()` frees the model. The GPU host runs the generator
server; the guidance node uses `RemotePlanner/RemoteGenerator/RemoteCritic`, which implement
the agent interfaces by request/response over the same transport, so the core pipeline runs
unchanged.

Nothing hangs on a missing peer: a client waits `discovery_timeout_s` for the server's
topics to match and `timeout_s` for the answer, then raises BackendTimeoutError (the pipeline
records it on the attempt and goes on).
"""
from __future__ import annotations

import itertools
import os
import queue
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

from interleave_robot.agents import Critic, Generator, Planner
from interleave_robot.errors import BackendTimeoutError, ConfigError, InterleaveError
from interleave_robot.registry import REGISTRIES
from interleave_robot.types import CritiqueRequest, GenerationRequest, GenerationResult, Observation, Plan, Task, Verdict
from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.context import StateCodec
from interleave_robot.ros_nodes.messages import String
from interleave_robot.ros_nodes.split_protocol import (ROLES, decode_request, decode_response, encode_error, encode_request, encode_response,
                             response_id)
from interleave_robot.ros_nodes.transport import Transport

MAX_PENDING = 8  # requests queued on a server beyond the one it works on; more are refused


def role_topics(prefix: str, role: str) -> tuple[str, str]:
    return f"{prefix}/{role}/request", f"{prefix}/{role}/response"


@dataclass
class AgentServerConfig:
    """`role` planner|generator|critic; `backend` a registry name; `options` its config."""

    role: str = "generator"
    backend: str = ""  # required
    options: dict = field(default_factory=dict)
    prefix: str = "/interleave"
    state_codec: str = "none"

    def __post_init__(self):
        if self.role not in ROLES:
            raise ConfigError(f"AgentServerConfig.role must be one of {ROLES}, got {self.role!r}")
        if self.backend not in REGISTRIES[self.role].names():
            raise ConfigError(f"unknown {self.role} backend {self.backend!r}; choose one of: "
                              f"{', '.join(REGISTRIES[self.role].names())}")


_CALLS = {"planner": lambda agent, req: agent.plan(*req), "generator": lambda agent, req: agent.generate(req),
          "critic": lambda agent, req: agent.critique(req)}


class AgentServer:
    """Serves one agent over topics, one request at a time, on a worker thread."""

    def __init__(self, transport: Transport, config: AgentServerConfig, agent: Any = None):
        self.transport, self.config = transport, config
        self.codec = StateCodec(config.state_codec)
        self.agent = agent  # given ready-made (tests), or built by configure()
        self._jobs: queue.Queue = queue.Queue(MAX_PENDING)
        self._worker: threading.Thread | None = None
        self._response = self._request = None
        self.served = 0

    def configure(self) -> None:
        """Load the backend (the model): lifecycle on_configure."""
        if self.agent is None:
            self.agent = REGISTRIES[self.config.role].build(self.config.backend, self.config.options)

    def activate(self) -> "AgentServer":
        """Open the request/response topics: lifecycle on_activate. Idempotent."""
        self.configure()
        if self._worker is not None:
            return self
        request_topic, response_topic = role_topics(self.config.prefix, self.config.role)
        self._response = self.transport.publisher(response_topic, String, qos.RELIABLE)
        try:
            self._request = self.transport.subscribe(request_topic, String, qos.RELIABLE, self._on_request)
        except Exception:
            self._response.close()
            raise
        self._worker = threading.Thread(target=self._serve, args=(self._jobs,), daemon=True,
                                        name=f"{self.config.role}-server")
        self._worker.start()
        return self

    def _on_request(self, msg: String) -> None:
        try:
            self._jobs.put_nowait(msg.data)
        except queue.Full:
            request_id = response_id(msg.data)
            if request_id is not None:
                self._response.publish(String(encode_error(request_id, RuntimeError("server busy: queue full"))))

    def _serve(self, jobs: queue.Queue) -> None:
        role = self.config.role
        while (text := jobs.get()) is not None:
            request_id = response_id(text)
            if request_id is None:
                self.transport.logger.warning(f"{role} server: dropped a request without an id")
                continue
            try:
                _, request = decode_request(role, text, self.codec)
                answer = encode_response(role, request_id, _CALLS[role](self.agent, request), self.codec)
            except Exception as exc:  # typed on the client side; the server keeps serving
                if not isinstance(exc, InterleaveError):
                    self.transport.logger.error(f"{role} server: request {request_id} failed: "
                                                f"{traceback.format_exc()}")
                answer = encode_error(request_id, exc)
            self._response.publish(String(answer))
            self.served += 1

    def deactivate(self) -> None:
        """Stop serving (lifecycle on_deactivate): the request subscription closes first (no
        request is taken or queued while inactive), the worker finishes its current request,
        requests still queued are dropped (their clients time out or retry), then the response
        topic closes. Activating again opens one subscription and one publisher, as before."""
        if self._worker is None:
            return
        self._request.close()
        jobs, self._jobs = self._jobs, queue.Queue(MAX_PENDING)
        while True:  # drop what was queued, then stop the worker
            try:
                jobs.get_nowait()
            except queue.Empty:
                break
        jobs.put(None)
        self._worker.join(timeout=30)
        self._worker = None
        self._response.close()

    def cleanup(self) -> None:
        """Free the model (lifecycle on_cleanup)."""
        self.deactivate()
        if self.agent is not None:
            self.agent.close()
            self.agent = None

    def close(self) -> None:
        """Stop serving and free the model (shutdown, Ctrl-C). Idempotent."""
        self.cleanup()


@dataclass
class RemoteAgentConfig:
    prefix: str = "/interleave"
    timeout_s: float = 600.0  # per call; generators on big models are slow
    discovery_timeout_s: float = 10.0  # how long to wait for the server's topics to match
    state_codec: str = "none"

    def __post_init__(self):
        for name in ("timeout_s", "discovery_timeout_s"):
            if not 0 < self.__dict__[name] <= 86400:
                raise ConfigError(f"RemoteAgentConfig.{name} must be in (0, 86400], got {self.__dict__[name]}")


class _RemoteCall:
    """Request/response over a topic pair, matching responses to requests by id."""

    _ids = itertools.count()

    def __init__(self, transport: Transport, role: str, config: RemoteAgentConfig):
        self.role, self.config = role, config
        self.codec = StateCodec(config.state_codec)
        self.client = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        request_topic, response_topic = role_topics(config.prefix, role)
        self._lock = threading.Condition()
        self._answers: dict[str, str] = {}
        self._waiting: set[str] = set()
        self._request = transport.publisher(request_topic, String, qos.RELIABLE)
        self._subscription = transport.subscribe(response_topic, String, qos.RELIABLE, self._on_response)
        self.request_topic = request_topic

    def _on_response(self, msg: String) -> None:
        request_id = response_id(msg.data)
        with self._lock:
            if request_id in self._waiting:  # others' responses and late answers are dropped
                self._answers[request_id] = msg.data
                self._lock.notify_all()

    def _wait_matched(self) -> None:
        deadline = time.monotonic() + self.config.discovery_timeout_s
        while self._request.matched_count() == 0 or self._subscription.matched_count() == 0:
            if time.monotonic() > deadline:
                raise BackendTimeoutError(f"no {self.role} node on {self.request_topic} within "
                                          f"{self.config.discovery_timeout_s:g} s (is it running and active?)")
            time.sleep(0.01)

    def __call__(self, request: Any) -> Any:
        self._wait_matched()
        request_id = f"{self.client}-{next(self._ids)}"
        with self._lock:
            self._waiting.add(request_id)
        try:
            self._request.publish(String(encode_request(self.role, request_id, request, self.codec)))
            deadline = time.monotonic() + self.config.timeout_s
            with self._lock:
                while request_id not in self._answers:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise BackendTimeoutError(f"remote {self.role} did not answer within "
                                                  f"{self.config.timeout_s:g} s")
                    self._lock.wait(left)
                text = self._answers.pop(request_id)
        finally:
            with self._lock:
                self._waiting.discard(request_id)
                self._answers.pop(request_id, None)
        return decode_response(self.role, text, self.codec)


class RemotePlanner(Planner):
    config_class = RemoteAgentConfig

    def __init__(self, transport: Transport, config: RemoteAgentConfig | None = None):
        self._call = _RemoteCall(transport, "planner", config or RemoteAgentConfig())

    def plan(self, task: Task, observation: Observation) -> Plan:
        return self._call((task, observation))


class RemoteGenerator(Generator):
    config_class = RemoteAgentConfig

    def __init__(self, transport: Transport, config: RemoteAgentConfig | None = None):
        self._call = _RemoteCall(transport, "generator", config or RemoteAgentConfig())

    def generate(self, request: GenerationRequest) -> GenerationResult:
        return self._call(request)


class RemoteCritic(Critic):
    config_class = RemoteAgentConfig

    def __init__(self, transport: Transport, config: RemoteAgentConfig | None = None):
        self._call = _RemoteCall(transport, "critic", config or RemoteAgentConfig())

    def critique(self, request: CritiqueRequest) -> Verdict:
        return self._call(request)

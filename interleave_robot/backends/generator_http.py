"""HTTP client of the InterleaveThinker generator contract (see interleave_robot.generator_server).

Several endpoints are used round-robin. `timeout_s` is the whole call's deadline (connect,
send, wait, read: a server trickling one byte a second cannot stretch it); past it the call
raises BackendTimeoutError. Every transport failure (refused, reset, closed mid-answer,
truncated) is a failed attempt on that endpoint: it is marked down and the next endpoint is
tried. A down endpoint is skipped for `recheck_s`, then probed with GET /health before it
gets work again; when every endpoint is down they are still probed, so one dropped
connection never fails a single-endpoint client outright. An endpoint answering 503 (busy)
is not marked down: the others are tried, and when all are busy the call waits for the
shortest `Retry-After` (within its deadline) and tries again. The bearer token comes from
the environment variable the config names and is never logged; error text from a server is
redacted before it reaches an error message.
"""
from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field

from interleave_robot.agents import Generator
from interleave_robot.backends.http_call import HTTPCaller, TransportError, check_url
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError, ImageError, redact
from interleave_robot.images import image_from_base64, image_to_base64
from interleave_robot.types import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 96 * 1024 * 1024
DEFAULT_TOKEN_ENV = "INTERLEAVE_GENERATOR_TOKEN"
MAX_RETRY_AFTER_S = 30.0  # a server's Retry-After is honoured up to this (and the call's deadline)


@dataclass
class HTTPGeneratorConfig:
    """Options of the HTTP generator client. `endpoints`: base URLs such as http://127.0.0.1:8000."""

    endpoints: list[str] = field(default_factory=list)
    timeout_s: float = 300.0  # whole call, over every endpoint tried
    connect_timeout_s: float = 5.0
    health_timeout_s: float = 5.0
    recheck_s: float = 10.0  # how long a down endpoint is skipped before a health probe
    token_env: str = DEFAULT_TOKEN_ENV  # variable holding the bearer token (unset: no auth header)

    def __post_init__(self):
        if not self.endpoints:
            raise ConfigError("http generator: option 'endpoints' (comma-separated base URLs) is required")
        for url in self.endpoints:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"http generator: endpoint must start with http:// or https://, got {url!r}")
            problem = check_url(url, "http generator: endpoint")
            if problem:
                raise ConfigError(problem)
        self.endpoints = [url.rstrip("/") for url in self.endpoints]
        timeouts = {"timeout_s": self.timeout_s, "connect_timeout_s": self.connect_timeout_s,
                    "health_timeout_s": self.health_timeout_s}
        for name, value in timeouts.items():
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"http generator: {name} must be a finite number > 0, got {value}")
        if not math.isfinite(self.recheck_s) or self.recheck_s < 0:
            raise ConfigError(f"http generator: recheck_s must be >= 0, got {self.recheck_s}")


class _EndpointDown(Exception):
    pass


class _Busy(Exception):
    def __init__(self, retry_after_s: float):
        super().__init__(f"busy (503, retry after {retry_after_s:g} s)")
        self.retry_after_s = retry_after_s


class HTTPGenerator(Generator):
    """Generate through one or more generator servers, round-robin, failing over between them."""

    config_class = HTTPGeneratorConfig

    def __init__(self, config: HTTPGeneratorConfig):
        self.config = config
        self._caller = HTTPCaller(connect_timeout_s=config.connect_timeout_s)
        self._lock = threading.Lock()
        self._next = 0
        self._down_until: dict[str, float] = {}  # endpoint -> monotonic time of its next health probe

    def __repr__(self) -> str:
        return f"HTTPGenerator(endpoints={self.config.endpoints!r}, token_env={self.config.token_env!r})"

    def _token(self) -> str:
        return os.environ.get(self.config.token_env, "")

    def _headers(self) -> dict:
        token = self._token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def health(self, endpoint: str, timeout_s: float | None = None) -> bool:
        """GET /health on one endpoint; True when it answers 200 with status ok."""
        timeout = min(self.config.health_timeout_s, timeout_s or self.config.health_timeout_s)
        try:
            reply = self._caller.request("GET", endpoint + "/health", None, {}, timeout, 64 * 1024)
            data = json.loads(reply.body)
        except (TransportError, ValueError, RecursionError):
            return False
        return reply.status == 200 and isinstance(data, dict) and data.get("status") == "ok"

    def _order(self) -> list[str]:
        """Endpoints to try for one request: round-robin start; ones marked down whose recheck is not
        due come last (probed first), so that an all-down client still tries."""
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self.config.endpoints)
            now = time.monotonic()
            endpoints = self.config.endpoints[start:] + self.config.endpoints[:start]
            resting = [e for e in endpoints if self._down_until.get(e, 0.0) > now]
            return [e for e in endpoints if e not in resting] + resting

    def _mark(self, endpoint: str, up: bool) -> None:
        with self._lock:
            if up:
                self._down_until.pop(endpoint, None)
            else:
                self._down_until[endpoint] = time.monotonic() + self.config.recheck_s

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """POST /edit to the next endpoint that answers, within `timeout_s` in all; BackendError when none does."""
        body = json.dumps({"image": None if request.source_image is None else image_to_base64(request.source_image),
                           "prompt": request.prompt, "seed": request.seed}).encode("utf-8")
        deadline = time.monotonic() + self.config.timeout_s
        tried: list[str] = []
        while True:
            wait = None
            for endpoint in self._order():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with self._lock:
                    was_down = endpoint in self._down_until
                if was_down and not self.health(endpoint, remaining):
                    self._mark(endpoint, up=False)
                    tried.append(f"{endpoint} (unhealthy)")
                    continue
                try:
                    image = self._post(endpoint, body, remaining)
                except _Busy as exc:
                    tried.append(f"{endpoint} ({exc})")
                    wait = exc.retry_after_s if wait is None else min(wait, exc.retry_after_s)
                    continue
                except _EndpointDown as exc:
                    log.warning("generator endpoint %s failed: %s", endpoint, exc)
                    self._mark(endpoint, up=False)
                    tried.append(f"{endpoint} ({exc})")
                    continue
                self._mark(endpoint, up=True)
                return GenerationResult(image=image, metadata={"endpoint": endpoint})
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendTimeoutError(f"no generator endpoint answered within {self.config.timeout_s:g} s: "
                                          + "; ".join(tried[-4:]))
            if wait is None:
                raise BackendError("no generator endpoint answered: " + "; ".join(tried[-4:]))
            time.sleep(min(wait, remaining))

    def _post(self, endpoint: str, body: bytes, timeout_s: float):
        headers = {"Content-Type": "application/json", **self._headers()}
        try:
            reply = self._caller.request("POST", endpoint + "/edit", body, headers, timeout_s, MAX_RESPONSE_BYTES)
        except TransportError as exc:
            if exc.kind == "timeout":
                raise BackendTimeoutError(f"{endpoint}/edit did not answer within {timeout_s:.3g} s") from None
            raise _EndpointDown(str(exc)) from None
        if reply.status == 503:
            raise _Busy(_retry_after(reply.headers.get("retry-after")))
        try:
            data = json.loads(reply.body)
        except (ValueError, RecursionError):
            raise BackendError(f"{endpoint}/edit answered HTTP {reply.status} with non-JSON "
                               f"{self._clean(reply.body[:120].decode('utf-8', 'replace'))!r}") from None
        if not isinstance(data, dict) or data.get("success") is not True:
            error = self._clean(str(data.get("error", "") if isinstance(data, dict) else "")[:300])
            if reply.status == 504:
                raise BackendTimeoutError(f"{endpoint}/edit: {error}")
            raise BackendError(f"{endpoint}/edit failed (HTTP {reply.status}): {error}")
        try:
            return image_from_base64(data.get("edited_image"), "edited_image")
        except ImageError as exc:
            raise BackendError(f"{endpoint}/edit answered a bad image: {exc}") from None

    def _clean(self, text: str) -> str:
        return redact(text, [self._token()])

    def close(self) -> None:
        self._caller.close()


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (delta-seconds form; anything else: 1 s), capped."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.05), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else 1.0

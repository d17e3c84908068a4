"""HTTP client of the InterleaveThinker generator contract (see interleave_robot.generator_server).

Several endpoints are used round-robin. An endpoint that refuses connections is marked down
and skipped; after `recheck_s` it is probed with GET /health before it gets work again.
A request that exceeds `timeout_s` raises BackendTimeoutError (it is not retried elsewhere:
a slow generator would be slow on every endpoint). The bearer token comes from the
environment variable the config names and is never logged.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field

from interleave_robot.agents import Generator
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError, ImageError
from interleave_robot.images import image_from_base64, image_to_base64
from interleave_robot.types import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 96 * 1024 * 1024
DEFAULT_TOKEN_ENV = "INTERLEAVE_GENERATOR_TOKEN"


@dataclass
class HTTPGeneratorConfig:
    """Options of the HTTP generator client. `endpoints`: base URLs such as http://127.0.0.1:8000."""

    endpoints: list[str] = field(default_factory=list)
    timeout_s: float = 300.0
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
        self.endpoints = [url.rstrip("/") for url in self.endpoints]
        timeouts = {"timeout_s": self.timeout_s, "connect_timeout_s": self.connect_timeout_s,
                    "health_timeout_s": self.health_timeout_s}
        for name, value in timeouts.items():
            if value <= 0:
                raise ConfigError(f"http generator: {name} must be > 0, got {value}")
        if self.recheck_s < 0:
            raise ConfigError(f"http generator: recheck_s must be >= 0, got {self.recheck_s}")


class _EndpointDown(Exception):
    pass


class _ThreadSession(threading.local):
    session = None  # each thread sees its own value; None until its first request


class HTTPGenerator(Generator):
    """Generate through one or more generator servers, round-robin, skipping ones that are down."""

    config_class = HTTPGeneratorConfig

    def __init__(self, config: HTTPGeneratorConfig):
        import requests

        self.config = config
        self._requests = requests
        self._lock = threading.Lock()
        self._next = 0
        self._down_until: dict[str, float] = {}  # endpoint -> monotonic time of its next health probe
        self._local = _ThreadSession()  # one Session per thread: connection reuse without sharing
        self._sessions = []  # every Session made, to close them all

    def __repr__(self) -> str:
        return f"HTTPGenerator(endpoints={self.config.endpoints!r}, token_env={self.config.token_env!r})"

    def _session(self):
        if self._local.session is None:
            self._local.session = self._requests.Session()
            with self._lock:
                self._sessions.append(self._local.session)
        return self._local.session

    def _headers(self) -> dict:
        token = os.environ.get(self.config.token_env, "")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def health(self, endpoint: str) -> bool:
        """GET /health on one endpoint; True when it answers 200 with status ok."""
        try:
            response = self._session().get(endpoint + "/health", timeout=self.config.health_timeout_s)
            return response.status_code == 200 and response.json().get("status") == "ok"
        except (self._requests.RequestException, ValueError, AttributeError):
            return False

    def _order(self) -> list[str]:
        """Endpoints to try for one request: round-robin start, down ones whose recheck is not due left out."""
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self.config.endpoints)
            now = time.monotonic()
            endpoints = self.config.endpoints[start:] + self.config.endpoints[:start]
            return [e for e in endpoints if self._down_until.get(e, 0.0) <= now]

    def _mark(self, endpoint: str, up: bool) -> None:
        with self._lock:
            if up:
                self._down_until.pop(endpoint, None)
            else:
                self._down_until[endpoint] = time.monotonic() + self.config.recheck_s

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """POST /edit to the next healthy endpoint; BackendError when none answers."""
        body = json.dumps({"image": None if request.source_image is None else image_to_base64(request.source_image),
                           "prompt": request.prompt, "seed": request.seed}).encode("utf-8")
        tried = []
        for endpoint in self._order():
            with self._lock:
                was_down = endpoint in self._down_until
            if was_down and not self.health(endpoint):
                self._mark(endpoint, up=False)
                tried.append(f"{endpoint} (unhealthy)")
                continue
            try:
                image = self._post(endpoint, body)
            except _EndpointDown as exc:
                log.warning("generator endpoint %s is down: %s", endpoint, exc)
                self._mark(endpoint, up=False)
                tried.append(f"{endpoint} ({exc})")
                continue
            self._mark(endpoint, up=True)
            return GenerationResult(image=image, metadata={"endpoint": endpoint})
        raise BackendError("no generator endpoint answered: " + ("; ".join(tried) or "all are marked down"))

    def _post(self, endpoint: str, body: bytes):
        requests = self._requests
        headers = {"Content-Type": "application/json", **self._headers()}
        try:
            response = self._session().post(endpoint + "/edit", data=body, headers=headers, stream=True,
                                            timeout=(self.config.connect_timeout_s, self.config.timeout_s))
            with response:
                raw = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
        except requests.ConnectTimeout as exc:
            raise _EndpointDown("connect timeout") from exc
        except requests.Timeout:
            raise BackendTimeoutError(f"{endpoint}/edit took longer than {self.config.timeout_s}s") from None
        except requests.ConnectionError as exc:
            raise _EndpointDown(f"connection error: {type(exc).__name__}") from exc
        if len(raw) > MAX_RESPONSE_BYTES:
            raise BackendError(f"{endpoint}/edit answered more than {MAX_RESPONSE_BYTES} bytes")
        try:
            data = json.loads(raw)
        except ValueError:
            raise BackendError(f"{endpoint}/edit answered HTTP {response.status_code} with non-JSON "
                               f"{raw[:120].decode('utf-8', 'replace')!r}") from None
        if not isinstance(data, dict) or data.get("success") is not True:
            error = data.get("error", "") if isinstance(data, dict) else ""
            if response.status_code == 504:
                raise BackendTimeoutError(f"{endpoint}/edit: {error}")
            raise BackendError(f"{endpoint}/edit failed (HTTP {response.status_code}): {str(error)[:300]}")
        try:
            return image_from_base64(data.get("edited_image"), "edited_image")
        except ImageError as exc:
            raise BackendError(f"{endpoint}/edit answered a bad image: {exc}") from None

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

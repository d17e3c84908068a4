"""VLM chat backend over an OpenAI-compatible `/v1/chat/completions` server (vLLM, ...).

Images travel as base64 PNG `image_url` data URLs. Connection errors, timeouts, connections
closed mid-answer, 429 and 5xx are retried with exponential backoff; other 4xx fail at once.
`timeout_s` is each attempt's whole deadline (connect to last byte). The API key is read
from the environment variable the config names, at call time, and never logged or shown in
a repr; an error body the server sends is redacted (the key, Bearer values, `api_key=...`)
before it is quoted in an error, since a server may echo the request's headers.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass

from interleave_robot.backends.http_call import HTTPCaller, TransportError, check_url
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError, redact
from interleave_robot.images import image_to_base64
from interleave_robot.backends.vlm_base import ChatMessage, VLMChat

log = logging.getLogger(__name__)

RESPONSE_FORMATS = ("none", "json_object")
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
REDACT_READ = 4096  # bytes of an error body redacted before the first 200 characters are quoted


@dataclass
class OpenAIVLMConfig:
    """Options of the OpenAI-compatible chat backend.

    response_format "json_object" asks the server for JSON output; leave it "none" for models
    that answer `<think>...</think><answer>{...}</answer>` (the InterleaveThinker checkpoints).
    """

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"  # name of the variable holding the key (unset: no auth header)
    max_tokens: int = 1024
    temperature: float = 0.0
    seed: int | None = None
    response_format: str = "none"
    timeout_s: float = 120.0
    max_retries: int = 3
    backoff_s: float = 0.5  # first retry delay; doubles per retry
    max_backoff_s: float = 8.0

    def __post_init__(self):
        if not self.model:
            raise ConfigError("openai VLM: option 'model' (the served model name) is required")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"openai VLM: base_url must start with http:// or https://, got {self.base_url!r}")
        problem = check_url(self.base_url, "openai VLM: base_url")
        if problem:
            raise ConfigError(problem)
        if self.response_format not in RESPONSE_FORMATS:
            raise ConfigError(f"openai VLM: response_format must be one of {', '.join(RESPONSE_FORMATS)}, "
                              f"got {self.response_format!r}")
        if not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise ConfigError(f"openai VLM: timeout_s must be a finite number > 0, got {self.timeout_s}")
        if not 0 <= self.max_retries <= 20:
            raise ConfigError(f"openai VLM: max_retries must be in 0..20, got {self.max_retries}")
        if not (0 <= self.backoff_s < math.inf and 0 <= self.max_backoff_s < math.inf):
            raise ConfigError("openai VLM: backoff_s and max_backoff_s must be >= 0")
        if self.max_tokens < 1:
            raise ConfigError(f"openai VLM: max_tokens must be >= 1, got {self.max_tokens}")


def message_to_openai(message: ChatMessage) -> dict:
    """A ChatMessage as an OpenAI chat message with text and base64 image_url parts."""
    content = []
    for part in message.parts:
        if isinstance(part, str):
            content.append({"type": "text", "text": part})
        else:
            content.append({"type": "image_url",
                            "image_url": {"url": "data:image/png;base64," + image_to_base64(part)}})
    return {"role": message.role, "content": content}


class _Retryable(Exception):
    """A failure worth retrying (connection error, timeout, 429, 5xx)."""


class OpenAIVLM(VLMChat):
    """Chat through an OpenAI-compatible HTTP server. Thread-safe (connections are per thread)."""

    config_class = OpenAIVLMConfig

    def __init__(self, config: OpenAIVLMConfig):
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._caller = HTTPCaller(connect_timeout_s=min(10.0, config.timeout_s))

    def __repr__(self) -> str:
        return f"OpenAIVLM(url={self.url!r}, model={self.config.model!r}, api_key_env={self.config.api_key_env!r})"

    def _key(self) -> str:
        return os.environ.get(self.config.api_key_env, "")

    def _quote(self, body: bytes) -> str:
        """The start of a server's answer, fit to quote in an error: credentials redacted."""
        return redact(body[:REDACT_READ].decode("utf-8", "replace"), [self._key()])[:200]

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, messages: list[ChatMessage]) -> dict:
        cfg = self.config
        body = {"model": cfg.model, "messages": [message_to_openai(m) for m in messages],
                "max_tokens": cfg.max_tokens, "temperature": cfg.temperature}
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        if cfg.response_format != "none":
            body["response_format"] = {"type": cfg.response_format}
        return body

    def _post_once(self, payload: bytes) -> str:
        try:
            reply = self._caller.request("POST", self.url, payload, self._headers(), self.config.timeout_s,
                                         MAX_RESPONSE_BYTES)
        except TransportError as exc:
            if exc.kind == "timeout":
                raise _Retryable(f"timeout after {self.config.timeout_s}s") from None
            raise _Retryable(f"connection error: {exc}") from None
        status = reply.status
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status != 200:
            raise BackendError(f"{self.url} answered HTTP {status}: {self._quote(reply.body)}")
        return self._content(reply.body)

    def _content(self, body: bytes) -> str:
        try:
            data = json.loads(body)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            raise BackendError(f"{self.url} answered no choices[0].message.content: {self._quote(body)}") from None
        if not isinstance(content, str):
            raise BackendError(f"{self.url} answered non-text content ({type(content).__name__})")
        return content

    def chat(self, messages: list[ChatMessage]) -> str:
        """POST the conversation; retry transient failures with exponential backoff."""
        if not messages:
            raise ConfigError("chat needs at least one message")
        cfg = self.config
        payload = json.dumps(self._body(messages)).encode("utf-8")
        delay, last = cfg.backoff_s, ""
        timed_out = False
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                time.sleep(delay)
                delay = min(delay * 2, cfg.max_backoff_s)
            try:
                return self._post_once(payload)
            except _Retryable as exc:
                last = str(exc)
                timed_out = last.startswith("timeout")
                log.warning("%s: attempt %d/%d failed: %s", self.url, attempt + 1, cfg.max_retries + 1, last)
        error = BackendTimeoutError if timed_out else BackendError
        raise error(f"{self.url}: {cfg.max_retries + 1} attempts failed; last: {last}")

    def close(self) -> None:
        self._caller.close()

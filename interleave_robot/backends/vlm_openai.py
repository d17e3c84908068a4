"""VLM chat backend over an OpenAI-compatible `/v1/chat/completions` server (vLLM, ...).

Images travel as base64 PNG `image_url` data URLs. Connection errors, timeouts, 429 and 5xx
are retried with exponential backoff; other 4xx fail at once. The API key is read from the
environment variable the config names, at call time, and never logged or shown in a repr.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass

from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError
from interleave_robot.images import image_to_base64
from interleave_robot.backends.vlm_base import ChatMessage, VLMChat

log = logging.getLogger(__name__)

RESPONSE_FORMATS = ("none", "json_object")
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


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
        if self.response_format not in RESPONSE_FORMATS:
            raise ConfigError(f"openai VLM: response_format must be one of {', '.join(RESPONSE_FORMATS)}, "
                              f"got {self.response_format!r}")
        if self.timeout_s <= 0:
            raise ConfigError(f"openai VLM: timeout_s must be > 0, got {self.timeout_s}")
        if not 0 <= self.max_retries <= 20:
            raise ConfigError(f"openai VLM: max_retries must be in 0..20, got {self.max_retries}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
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
    """Chat through an OpenAI-compatible HTTP server. Thread-safe (a requests.Session per call)."""

    config_class = OpenAIVLMConfig

    def __init__(self, config: OpenAIVLMConfig):
        import requests

        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._requests = requests

    def __repr__(self) -> str:
        return f"OpenAIVLM(url={self.url!r}, model={self.config.model!r}, api_key_env={self.config.api_key_env!r})"

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env, "")
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
        requests = self._requests
        try:
            response = requests.post(self.url, data=payload, headers=self._headers(), timeout=self.config.timeout_s,
                                     stream=True)
        except requests.Timeout as exc:
            raise _Retryable(f"timeout after {self.config.timeout_s}s") from exc
        except requests.ConnectionError as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}") from exc
        with response:
            try:
                body = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
            except (requests.RequestException, OSError) as exc:
                raise _Retryable(f"reading the response failed: {type(exc).__name__}") from exc
            status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status != 200:
            raise BackendError(f"{self.url} answered HTTP {status}: {body[:200].decode('utf-8', 'replace')}")
        if len(body) > MAX_RESPONSE_BYTES:
            raise BackendError(f"{self.url} answered more than {MAX_RESPONSE_BYTES} bytes")
        return self._content(body)

    def _content(self, body: bytes) -> str:
        try:
            data = json.loads(body)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(f"{self.url} answered no choices[0].message.content: "
                               f"{body[:200].decode('utf-8', 'replace')}") from None
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

"""OpenAIVLM against a real local HTTP server speaking /v1/chat/completions."""
from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from interleave_robot.backends.vlm_base import ChatMessage
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError
from interleave_robot.images import image_from_base64
from interleave_robot.registry import VLM_BACKENDS

from .conftest import free_port
from .fake_openai import FakeOpenAIServer, Reply


@pytest.fixture
def fake():
    servers = []

    def start(*replies: Reply) -> FakeOpenAIServer:
        server = FakeOpenAIServer(replies=list(replies) or [Reply()])
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def vlm(server_url: str, **options):
    return VLM_BACKENDS.build("openai", {"base_url": server_url, "model": "interleave-critic", "backoff_s": 0.01,
                                         **options})


def test_images_arrive_as_base64_parts(fake, scene, monkeypatch):
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-very-secret")
    server = fake(Reply(content="<think>t</think><answer>{'previous_step_success': True}</answer>"))
    chat = vlm(server.base_url, api_key_env="TEST_OPENAI_KEY", response_format="json_object", seed=5,
               max_tokens=64)
    after = scene[::-1].copy()
    answer = chat.chat([ChatMessage("system", ["be brief"]), ChatMessage("user", [scene, after, "same?"])])
    assert answer.startswith("<think>t</think>")
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-very-secret"
    body = request["body"]
    assert body["model"] == "interleave-critic" and body["max_tokens"] == 64 and body["seed"] == 5
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert system == {"role": "system", "content": [{"type": "text", "text": "be brief"}]}
    kinds = [part["type"] for part in user["content"]]
    assert kinds == ["image_url", "image_url", "text"]
    urls = [part["image_url"]["url"] for part in user["content"][:2]]
    assert all(url.startswith("data:image/png;base64,") for url in urls)
    np.testing.assert_array_equal(image_from_base64(urls[0]), scene)
    np.testing.assert_array_equal(image_from_base64(urls[1]), after)
    assert "sk-very-secret" not in repr(chat) and "sk-very-secret" not in repr(chat.config)


def test_no_key_no_auth_header_and_no_response_format(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = fake()
    vlm(server.base_url).chat([ChatMessage("user", ["hi"])])
    request = server.requests[0]
    assert "Authorization" not in request["headers"]
    assert "response_format" not in request["body"]


def test_5xx_and_429_are_retried_with_backoff(fake, caplog, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-logged")
    server = fake(Reply(status=500), Reply(status=503), Reply(status=429), Reply(content="ok"))
    chat = vlm(server.base_url, max_retries=3, backoff_s=0.05)
    t0 = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        assert chat.chat([ChatMessage("user", ["hi"])]) == "ok"
    assert len(server.requests) == 4
    assert time.monotonic() - t0 >= 0.05 + 0.1 + 0.2 - 0.01  # exponential backoff
    assert "sk-never-logged" not in caplog.text


def test_retries_run_out(fake):
    server = fake(Reply(status=502))
    with pytest.raises(BackendError, match="3 attempts failed; last: HTTP 502"):
        vlm(server.base_url, max_retries=2).chat([ChatMessage("user", ["hi"])])
    assert len(server.requests) == 3


def test_4xx_is_not_retried(fake):
    server = fake(Reply(status=400))
    with pytest.raises(BackendError, match="HTTP 400"):
        vlm(server.base_url, max_retries=3).chat([ChatMessage("user", ["hi"])])
    assert len(server.requests) == 1


def test_timeout_is_retried_then_raises_timeout_error(fake):
    server = fake(Reply(content="late", delay_s=1.0))
    t0 = time.monotonic()
    with pytest.raises(BackendTimeoutError):
        vlm(server.base_url, timeout_s=0.15, max_retries=1).chat([ChatMessage("user", ["hi"])])
    assert len(server.requests) == 2 and time.monotonic() - t0 < 1.5


def test_timeout_then_success(fake):
    server = fake(Reply(content="late", delay_s=1.0), Reply(content="fast"))
    assert vlm(server.base_url, timeout_s=0.3, max_retries=1).chat([ChatMessage("user", ["hi"])]) == "fast"


def test_connection_refused_is_retried_then_backend_error():
    chat = vlm(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    with pytest.raises(BackendError, match="connection error"):
        chat.chat([ChatMessage("user", ["hi"])])


def test_malformed_response_is_backend_error(fake):
    server = fake()
    chat = vlm(server.base_url)
    with pytest.raises(BackendError, match="choices"):
        chat._content(b'{"choices": []}')
    with pytest.raises(BackendError, match="non-text"):
        chat._content(b'{"choices": [{"message": {"content": null}}]}')
    with pytest.raises(BackendError, match="choices"):
        chat._content(b"<html>")


@pytest.mark.parametrize("options, message", [
    ({"base_url": "http://x/v1"}, "model"),
    ({"model": "m", "base_url": "x"}, "http"),
    ({"model": "m", "response_format": "xml"}, "response_format"),
    ({"model": "m", "timeout_s": 0}, "timeout_s"),
    ({"model": "m", "max_retries": -1}, "max_retries"),
])
def test_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        VLM_BACKENDS.build("openai", options)

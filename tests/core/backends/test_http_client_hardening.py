"""HTTP clients against misbehaving servers on 127.0.0.1 (issue 8, items 1, 6, 7, 8, 15)."""
from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from interleave_robot.backends.scripted import EchoGenerator, EchoGeneratorConfig
from interleave_robot.backends.vlm_base import ChatMessage
from interleave_robot.errors import BackendError, BackendTimeoutError, redact
from interleave_robot.registry import GENERATORS, VLM_BACKENDS
from interleave_robot.types import GenerationRequest

from .hostile import RawServer, read_request


def client(*urls, **options):
    return GENERATORS.build("http", {"endpoints": ",".join(urls), **options})


@pytest.fixture
def raw():
    servers = []

    def start(behave) -> RawServer:
        server = RawServer(behave)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def trickle_headers(conn):
    read_request(conn)
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * 200:
        conn.sendall(bytes([byte]))
        time.sleep(0.1)


def trickle_body(conn):
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(200):
        conn.sendall(b" ")
        time.sleep(0.1)


def closed_mid_answer(conn):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"success": tr')


def closed_without_answer(conn):
    read_request(conn)


def garbage_status_line(conn):
    read_request(conn)
    conn.sendall(b"SMTP ready\r\n\r\n")


@pytest.mark.parametrize("behave", [trickle_headers, trickle_body])
def test_timeout_is_a_total_deadline(raw, scene, behave):
    server = raw(behave)
    gen = client(server.url, timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(BackendTimeoutError):
        gen.generate(GenerationRequest("p", 0, scene))
    assert time.monotonic() - t0 < 1.5  # one byte every 0.1 s used to stretch the call without bound


@pytest.mark.parametrize("behave", [closed_mid_answer, closed_without_answer, garbage_status_line])
def test_broken_answers_fail_over_to_the_next_endpoint(raw, serve, scene, behave, caplog):
    broken = raw(behave)
    good = serve()
    gen = client(broken.url, good.url, recheck_s=60)
    for i in range(3):
        assert gen.generate(GenerationRequest("p", i, scene)).metadata["endpoint"] == good.url
    assert broken.url in gen._down_until
    assert not [r for r in caplog.records if r.exc_info]  # a warning line, never a traceback


@pytest.mark.parametrize("behave", [closed_mid_answer, closed_without_answer, garbage_status_line])
def test_broken_answer_alone_is_a_backend_error(raw, scene, behave):
    gen = client(raw(behave).url, recheck_s=0)
    with pytest.raises(BackendError, match="no generator endpoint answered"):
        gen.generate(GenerationRequest("p", 0, scene))


def test_one_dropped_connection_does_not_take_a_single_endpoint_out(raw, serve, scene):
    drops = {"left": 1}
    good = serve()

    def flaky(conn):  # drops the first connection, then forwards to the real server
        import socket as socketlib

        request = read_request(conn)
        if drops["left"]:
            drops["left"] -= 1
            return
        upstream = socketlib.create_connection(("127.0.0.1", good.httpd.server_address[1]))
        upstream.sendall(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
        while chunk := upstream.recv(65536):
            conn.sendall(chunk)
        upstream.close()

    server = raw(flaky)
    gen = client(server.url, recheck_s=60)
    with pytest.raises(BackendError):
        gen.generate(GenerationRequest("p", 0, scene))
    # Marked down, but being the only endpoint it is probed (health) and used again at once.
    assert gen.generate(GenerationRequest("p", 1, scene)).image.shape == scene.shape


def test_100_simultaneous_calls_on_a_busy_server_all_succeed(serve, scene):
    """503 + Retry-After is honoured within the deadline (20 of 100 calls failed with the old client)."""
    server = serve(EchoGenerator(EchoGeneratorConfig(sleep_s=0.02)), max_concurrent_requests=2,
                   queue_timeout_s=0.05, retry_after_s=1)
    gen = client(server.url, timeout_s=60)
    barrier = threading.Barrier(100)

    def one(i):
        barrier.wait(timeout=30)
        return gen.generate(GenerationRequest("p", i, scene)).image.shape

    with ThreadPoolExecutor(max_workers=100) as pool:
        shapes = list(pool.map(one, range(100)))
    assert shapes == [scene.shape] * 100
    gen.close()


def test_all_busy_until_the_deadline_is_a_timeout(raw, scene):
    def busy(conn):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    gen = client(raw(busy).url, timeout_s=1.5)
    t0 = time.monotonic()
    with pytest.raises(BackendTimeoutError, match="busy"):
        gen.generate(GenerationRequest("p", 0, scene))
    assert 1.0 <= time.monotonic() - t0 < 2.5


def echo_headers(status: int):
    """A server that quotes the request's headers in its error body (some proxies do)."""

    def behave(conn):
        request = read_request(conn).decode("latin-1")
        body = json.dumps({"success": False, "error": {"message": "denied", "request": request[:2000]}}).encode()
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + body)

    return behave


def test_generator_error_bodies_are_redacted(raw, scene, monkeypatch):
    monkeypatch.setenv("GEN_TOKEN", "gen-secret-value-123")
    gen = client(raw(echo_headers(400)).url, token_env="GEN_TOKEN")
    with pytest.raises(BackendError) as info:
        gen.generate(GenerationRequest("p", 0, scene))
    assert "gen-secret-value-123" not in str(info.value) and "HTTP 400" in str(info.value)


@pytest.mark.parametrize("status", [401, 403, 422])
def test_openai_error_bodies_are_redacted(raw, monkeypatch, status):
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-live-0123456789abcdef")
    vlm = VLM_BACKENDS.build("openai", {"base_url": raw(echo_headers(status)).url + "/v1", "model": "m",
                                        "api_key_env": "TEST_OPENAI_KEY", "max_retries": 0})
    with pytest.raises(BackendError) as info:
        vlm.chat([ChatMessage("user", ["hi"])])
    message = str(info.value)
    assert f"HTTP {status}" in message and "sk-live" not in message and "0123456789abcdef" not in message


def test_openai_connection_closed_mid_answer_is_retried_then_backend_error(raw, caplog):
    server = raw(closed_mid_answer)
    vlm = VLM_BACKENDS.build("openai", {"base_url": server.url + "/v1", "model": "m", "max_retries": 2,
                                        "backoff_s": 0.01})
    with pytest.raises(BackendError, match="3 attempts failed"):
        vlm.chat([ChatMessage("user", ["hi"])])
    assert server.connections == 3
    assert not [r for r in caplog.records if r.exc_info]


def test_openai_timeout_is_a_total_deadline(raw):
    vlm = VLM_BACKENDS.build("openai", {"base_url": raw(trickle_body).url + "/v1", "model": "m", "max_retries": 0,
                                        "timeout_s": 1.0})
    t0 = time.monotonic()
    with pytest.raises(BackendTimeoutError):
        vlm.chat([ChatMessage("user", ["hi"])])
    assert time.monotonic() - t0 < 1.5


def test_openai_deeply_nested_answer_is_backend_error(raw):
    def nested(conn):
        read_request(conn)
        body = b"[" * 100_000 + b"]" * 100_000
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)

    vlm = VLM_BACKENDS.build("openai", {"base_url": raw(nested).url + "/v1", "model": "m", "max_retries": 0})
    with pytest.raises(BackendError, match="no choices"):
        vlm.chat([ChatMessage("user", ["hi"])])


@pytest.mark.parametrize("text, secret", [
    ('{"headers": {"Authorization": "Bearer abc.def-123"}}', "abc.def-123"),
    ("api_key=hunter22&x=1", "hunter22"),
    ("x-api-key: k-777777", "k-777777"),
    ("key sk-proj-aaaaaaaaaaaaaaaa leaked", "sk-proj-aaaaaaaaaaaaaaaa"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
])
def test_redact_patterns(text, secret):
    assert secret not in redact(text)
    assert redact("model 'x' not found") == "model 'x' not found"
    assert "mine-1234" not in redact("... mine-1234 ...", ["mine-1234"])


def test_redact_is_linear():
    t0 = time.monotonic()
    redact("token" + " " * 4 + "=" * 100_000 + "api_key" * 10_000)
    assert time.monotonic() - t0 < 0.5


def test_no_traceback_logged_for_transport_failures(raw, scene, caplog):
    caplog.set_level(logging.DEBUG)
    gen = client(raw(closed_mid_answer).url, recheck_s=0)
    for i in range(3):
        with pytest.raises(BackendError):
            gen.generate(GenerationRequest("p", i, scene))
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://:8000", "http://127.0.0.1:abc", "http://[::1"])
def test_malformed_endpoint_urls_are_config_errors(url):
    from interleave_robot.errors import ConfigError

    with pytest.raises(ConfigError):
        client(url)
    with pytest.raises(ConfigError):
        VLM_BACKENDS.build("openai", {"base_url": url + "/v1", "model": "m"})


def test_kept_alive_connection_closed_by_the_server_is_reused_transparently(serve, scene):
    server = serve(header_timeout_s=0.3)  # the server closes idle connections after 0.3 s
    gen = client(server.url, recheck_s=60)
    gen.generate(GenerationRequest("p", 0, scene))
    time.sleep(0.8)
    assert gen.generate(GenerationRequest("p", 1, scene)).image.shape == scene.shape
    assert not gen._down_until  # a stale connection is retried fresh, not counted against the endpoint

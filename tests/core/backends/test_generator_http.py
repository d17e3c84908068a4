"""HTTPGenerator against the real generator server (thread and `serve-generator` subprocess) on 127.0.0.1."""
from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

from interleave_robot.agents import Generator
from interleave_robot.backends.generator_http import HTTPGenerator, HTTPGeneratorConfig
from interleave_robot.backends.scripted import EchoGenerator, EchoGeneratorConfig
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError
from interleave_robot.generator_server import GeneratorServer, ServerOptions
from interleave_robot.images import image_to_base64
from interleave_robot.registry import GENERATORS
from interleave_robot.types import GenerationRequest, GenerationResult

from .conftest import free_port


def client(*urls, **options) -> HTTPGenerator:
    return GENERATORS.build("http", {"endpoints": ",".join(urls), **options})


def test_edit_and_text_to_image_roundtrip(serve, scene):
    echo = EchoGenerator(EchoGeneratorConfig(size=24))
    server = serve(echo)
    gen = client(server.url)
    result = gen.generate(GenerationRequest(prompt="move the red block", seed=7, source_image=scene))
    # The echo generator returns the source with a band derived from (prompt, seed) at the top.
    expected = echo.generate(GenerationRequest(prompt="move the red block", seed=7, source_image=scene)).image
    np.testing.assert_array_equal(result.image, expected)
    assert result.metadata["endpoint"] == server.url
    drawn = gen.generate(GenerationRequest(prompt="a table", seed=1, source_image=None))
    assert drawn.image.shape == (24, 24, 3)
    gen.close()


def test_round_robin_over_endpoints(serve, scene):
    echoes = [EchoGenerator(EchoGeneratorConfig()) for _ in range(3)]
    servers = [serve(e) for e in echoes]
    gen = client(*(s.url for s in servers))
    used = [gen.generate(GenerationRequest("p", i, scene)).metadata["endpoint"] for i in range(6)]
    assert used == [s.url for s in servers] * 2
    assert [e.calls for e in echoes] == [2, 2, 2]


def test_dead_endpoint_is_skipped_then_rechecked(serve, scene):
    live = serve()
    dead_url = f"http://127.0.0.1:{free_port()}"
    gen = client(dead_url, live.url, recheck_s=60)
    for i in range(4):
        assert gen.generate(GenerationRequest("p", i, scene)).metadata["endpoint"] == live.url
    assert dead_url in gen._down_until
    assert gen.health(live.url) and not gen.health(dead_url)


def test_endpoint_back_up_after_recheck(scene):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gen = client(url, recheck_s=0)
    with pytest.raises(BackendError, match="no generator endpoint answered"):
        gen.generate(GenerationRequest("p", 0, scene))
    server = GeneratorServer(EchoGenerator(EchoGeneratorConfig()), "echo", ServerOptions(port=port)).start()
    try:
        assert gen.generate(GenerationRequest("p", 0, scene)).metadata["endpoint"] == url
        assert url not in gen._down_until
    finally:
        server.close()


def test_all_endpoints_dead_raises_backend_error(scene):
    gen = client(f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BackendError, match="no generator endpoint answered"):
        gen.generate(GenerationRequest("p", 0, scene))


def test_timeout_raises_backend_timeout_error(serve, scene):
    server = serve(EchoGenerator(EchoGeneratorConfig(sleep_s=1.0)))
    gen = client(server.url, timeout_s=0.2)
    t0 = time.monotonic()
    with pytest.raises(BackendTimeoutError):
        gen.generate(GenerationRequest("p", 0, scene))
    assert time.monotonic() - t0 < 0.9


def test_generator_failure_is_reported(serve, scene):
    server = serve(EchoGenerator(EchoGeneratorConfig(fail_calls=[0])))
    gen = client(server.url)
    with pytest.raises(BackendError, match="injected failure"):
        gen.generate(GenerationRequest("p", 0, scene))
    assert gen.generate(GenerationRequest("p", 0, scene)).image.shape == scene.shape  # server still serves


class Crashing(Generator):
    config_class = object

    def generate(self, request: GenerationRequest) -> GenerationResult:
        raise ZeroDivisionError("secret internal detail")


def test_unexpected_exception_gives_500_without_traceback(serve, scene):
    server = serve(Crashing(), name="crashing")
    response = requests.post(server.url + "/edit", json={"image": None, "prompt": "p", "seed": 0}, timeout=5)
    assert response.status_code == 500
    body = response.json()
    assert body["success"] is False and "Traceback" not in response.text and "secret" not in response.text


def test_bearer_token(serve, scene, monkeypatch):
    server = serve(token="s3cret-token")
    monkeypatch.delenv("GEN_TOKEN", raising=False)
    gen = client(server.url, token_env="GEN_TOKEN")
    with pytest.raises(BackendError, match="401"):
        gen.generate(GenerationRequest("p", 0, scene))
    monkeypatch.setenv("GEN_TOKEN", "wrong")
    with pytest.raises(BackendError, match="401"):
        gen.generate(GenerationRequest("p", 0, scene))
    monkeypatch.setenv("GEN_TOKEN", "s3cret-token")
    assert gen.generate(GenerationRequest("p", 0, scene)).image.shape == scene.shape
    assert "s3cret" not in repr(gen) and "s3cret" not in repr(server.options)


@pytest.mark.parametrize("body, status, message", [
    (b"not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({"image": None, "prompt": "", "seed": 0}).encode(), 400, "prompt"),
    (json.dumps({"image": None, "prompt": "p", "seed": -1}).encode(), 400, "seed"),
    (json.dumps({"image": None, "prompt": "p", "seed": "1"}).encode(), 400, "seed"),
    (json.dumps({"image": "%%%not-base64%%%", "prompt": "p", "seed": 0}).encode(), 400, "base64"),
    (json.dumps({"image": base64.b64encode(b"not a png").decode(), "prompt": "p", "seed": 0}).encode(), 400,
     "cannot be decoded"),
    (json.dumps({"image": 5, "prompt": "p", "seed": 0}).encode(), 400, "base64 string"),
])
def test_bad_requests_get_json_errors(serve, body, status, message):
    server = serve()
    response = requests.post(server.url + "/edit", data=body, timeout=5)
    assert response.status_code == status
    assert response.json()["success"] is False and message in response.json()["error"]


def test_oversized_and_lengthless_requests(serve, scene):
    server = serve(max_request_bytes=4096)
    big = {"image": image_to_base64(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)),
           "prompt": "p", "seed": 0}
    response = requests.post(server.url + "/edit", json=big, timeout=5)
    assert response.status_code == 413 and "bound" in response.json()["error"]
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.putrequest("POST", "/edit")
    conn.endheaders()
    reply = conn.getresponse()
    assert reply.status == 411 and json.loads(reply.read())["success"] is False
    conn.close()
    assert requests.get(server.url + "/nope", timeout=5).status_code == 404
    assert requests.put(server.url + "/edit", data=b"x", timeout=5).status_code == 405
    health = requests.get(server.url + "/health", timeout=5).json()
    assert health == {"status": "ok", "generator": "echo"}


def test_config_errors():
    with pytest.raises(ConfigError, match="endpoints"):
        GENERATORS.build("http", {})
    with pytest.raises(ConfigError, match="http://"):
        GENERATORS.build("http", {"endpoints": "ftp://x"})
    with pytest.raises(ConfigError, match="timeout_s"):
        HTTPGenerator(HTTPGeneratorConfig(endpoints=["http://127.0.0.1:1"], timeout_s=0))


def test_serve_generator_command(scene, tmp_path):
    """The real `interleave-robot serve-generator` process, port 0, with a bearer token from the env."""
    env = dict(os.environ, SERVE_TOKEN="tok-123", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "interleave_robot", "serve-generator", "--generator", "echo",
                             "--generator-opt", "size=16", "--port", "0", "--token-env", "SERVE_TOKEN"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert "serving generator 'echo' on http://127.0.0.1:" in line, line
        url = line.split(" on ")[1].split()[0]
        os.environ["SERVE_TOKEN_CLIENT"] = "tok-123"
        try:
            gen = client(url, token_env="SERVE_TOKEN_CLIENT")
            assert gen.generate(GenerationRequest("p", 3, None)).image.shape == (16, 16, 3)
            edited = gen.generate(GenerationRequest("p", 3, scene)).image
            assert edited.shape == scene.shape
        finally:
            del os.environ["SERVE_TOKEN_CLIENT"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


@pytest.mark.parametrize("argv, message", [
    (["--generator", "no-such"], "unknown generator backend"),
    (["--generator", "echo", "--generator-opt", "sleep_s=-1"], "sleep_s"),
    (["--generator", "echo", "--generator-opt", "nokey"], "key=value"),
    (["--generator", "echo", "--token-env", "SURELY_UNSET_VAR_XYZ"], "unset"),
    (["--generator", "diffusers", "--generator-opt", "model=/no/such/dir"], "not found"),
])
def test_serve_generator_bad_input_one_line_error(argv, message):
    proc = subprocess.run([sys.executable, "-m", "interleave_robot", "serve-generator", *argv],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


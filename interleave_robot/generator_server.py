"""Serve any configured generator under the InterleaveThinker generator contract.

    POST /edit   {"image": base64 PNG/JPEG | null, "prompt": str, "seed": int}
              -> {"success": true, "edited_image": base64 PNG}
    GET  /health -> {"status": "ok", "generator": name}

Errors answer JSON {"success": false, "error": "..."} with a status code: 400 bad request,
401 missing/wrong bearer token, 404/405, 411 no Content-Length, 413 body too large, 502
generator failed, 504 generator timed out, 500 anything unexpected (details only in the
server log, never a traceback to the client). Binds 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from interleave_robot.agents import Generator
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError, ImageError
from interleave_robot.images import image_from_base64, image_to_base64
from interleave_robot.types import GenerationRequest

log = logging.getLogger(__name__)

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_PROMPT_CHARS = 8192


class _RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ServerOptions:
    """How the server listens. `token`: the bearer token clients must send (None: no auth)."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    socket_timeout_s: float = 60.0  # a client that stalls mid-request is dropped after this

    def __post_init__(self):
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        if self.max_request_bytes < 1024:
            raise ConfigError(f"max_request_bytes must be >= 1024, got {self.max_request_bytes}")
        if self.socket_timeout_s <= 0:
            raise ConfigError(f"socket_timeout_s must be > 0, got {self.socket_timeout_s}")

    def __repr__(self) -> str:  # never show the token
        return (f"ServerOptions(host={self.host!r}, port={self.port}, token={'***' if self.token else None}, "
                f"max_request_bytes={self.max_request_bytes})")


def parse_edit_request(body: bytes) -> GenerationRequest:
    """Validate a /edit JSON body into a GenerationRequest; _RequestError(400) naming the problem."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _RequestError(400, f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _RequestError(400, "body must be a JSON object")
    prompt, seed, image = data.get("prompt"), data.get("seed", 0), data.get("image")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _RequestError(400, "'prompt' must be a non-empty string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise _RequestError(400, f"'prompt' is over {MAX_PROMPT_CHARS} characters")
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise _RequestError(400, "'seed' must be a non-negative integer")
    if image is not None and not isinstance(image, str):
        raise _RequestError(400, "'image' must be a base64 string or null")
    try:
        source = None if image is None else image_from_base64(image, "image")
    except ImageError as exc:
        raise _RequestError(400, str(exc)) from None
    return GenerationRequest(prompt=prompt, seed=seed, source_image=source)


def _make_handler(generator: Generator, name: str, options: ServerOptions) -> type:
    class Handler(BaseHTTPRequestHandler):
        timeout = options.socket_timeout_s
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
        # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK adds ~40 ms.
        disable_nagle_algorithm = True
        server_version = "interleave-robot-generator"

        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            log.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:  # tell keep-alive clients not to reuse this connection
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"success": False, "error": message})

        def _authorised(self) -> bool:
            if options.token is None:
                return True
            sent = self.headers.get("Authorization", "")
            return hmac.compare_digest(sent.encode("utf-8", "replace"), f"Bearer {options.token}".encode("utf-8"))

        def do_GET(self):
            if self.path.split("?")[0] == "/health":
                self._send(200, {"status": "ok", "generator": name})
            else:
                self._error(404, f"no such path: {self.path[:100]}")

        def do_POST(self):
            if self.path.split("?")[0] != "/edit":
                self._discard_body()
                return self._error(404, f"no such path: {self.path[:100]}")
            try:
                body = self._read_body()
                request = parse_edit_request(body)
            except _RequestError as exc:
                return self._error(exc.status, str(exc))
            try:
                result = generator.generate(request)
                edited = image_to_base64(result.image)
            except BackendTimeoutError as exc:
                return self._error(504, f"generator timed out: {exc}")
            except (BackendError, ImageError) as exc:
                return self._error(502, f"generator failed: {exc}")
            except Exception:  # the client gets a status, the log gets the details
                log.exception("generator %s raised", name)
                return self._error(500, "internal error in the generator (see the server log)")
            self._send(200, {"success": True, "edited_image": edited})

        def _read_body(self) -> bytes:
            if not self._authorised():
                self._discard_body()
                raise _RequestError(401, "missing or wrong bearer token")
            length = self.headers.get("Content-Length")
            if length is None:
                self.close_connection = True
                raise _RequestError(411, "Content-Length is required")
            try:
                size = int(length)
            except ValueError:
                self.close_connection = True
                raise _RequestError(400, "Content-Length is not an integer") from None
            if size < 0 or size > options.max_request_bytes:
                self.close_connection = True  # the unread body must not be parsed as the next request
                raise _RequestError(413, f"request body of {size} bytes is over the "
                                         f"{options.max_request_bytes} byte bound")
            return self.rfile.read(size)

        def _discard_body(self) -> None:
            # Unread bodies would corrupt a kept-alive connection; small ones are drained, others dropped.
            length = self.headers.get("Content-Length", "")
            if length.isdigit() and int(length) <= options.max_request_bytes:
                self.rfile.read(int(length))
            else:
                self.close_connection = True

        def do_PUT(self):
            self._discard_body()
            self._error(405, "method not allowed")

        do_DELETE = do_PATCH = do_PUT

    return Handler


class GeneratorServer:
    """A ThreadingHTTPServer around one generator; `start()` serves in a background thread."""

    def __init__(self, generator: Generator, name: str, options: ServerOptions | None = None):
        self.options = options or ServerOptions()
        self.generator = generator
        self.httpd = ThreadingHTTPServer((self.options.host, self.options.port),
                                         _make_handler(generator, name, self.options))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "GeneratorServer":
        # A short poll interval makes close() quick (shutdown waits for the serving loop to poll).
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="generator-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        """Stop serving and free the socket (the generator is the caller's to close)."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.httpd.server_close()

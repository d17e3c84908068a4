"""Serve any configured generator under the InterleaveThinker generator contract.

    POST /edit   {"image": base64 PNG/JPEG | null, "prompt": str, "seed": int}
              -> {"success": true, "edited_image": base64 PNG}
    GET  /health -> {"status": "ok", "generator": name}

Errors answer JSON {"success": false, "error": "..."} with a status code: 400 bad request,
401 missing/wrong bearer token, 404/405, 408 request not received in time, 411 no
Content-Length, 413 body or decoded image too large, 431 headers too large, 502 generator
failed, 503 busy (with `Retry-After`), 504 generator timed out, 500 anything unexpected
(details only in the server log, never a traceback to the client). Binds 127.0.0.1 unless
told otherwise.

Bounds (ServerOptions), so that no client can exhaust the host:
- a real listen backlog (128; Python's default of 5 reset most of a burst of 200 clients);
- at most `max_connections` open connections, one thread each; past it a connection is
  answered 503 by the accepting thread (also capped below the process's file-descriptor
  limit, so accept never fails in a spin). A connection closed with request bytes unread
  (503, 413, 411) is closed gently (interleave_robot.linger), so the client reads the answer
  instead of a reset;
- at most `max_concurrent_requests` /edit requests past their headers (body read, image
  decoded, generated, encoded); others wait up to `queue_timeout_s` for a slot, then get 503
  with `Retry-After`. The body is read only once a slot is held, so memory is bounded by
  slots x max_request_bytes, and the token is checked before that;
- deadlines for the whole request line and headers (`header_timeout_s`, also the keep-alive
  idle time), for the whole body once a slot is held, and for writing the answer
  (`request_timeout_s` each): a client trickling bytes gets 408;
- `max_pixels` decoded pixels per image, checked from the image header before decoding.
A misbehaving client costs one log line, never a traceback.
"""
from __future__ import annotations

import errno
import hmac
import json
import logging
import math
import resource
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from interleave_robot.agents import Generator
from interleave_robot.deadlines import SocketDeadlines
from interleave_robot.errors import BackendError, BackendTimeoutError, ConfigError, ImageError, ImageTooLargeError
from interleave_robot.images import MAX_IMAGE_PIXELS, image_from_base64, image_to_base64
from interleave_robot.linger import Lingerer
from interleave_robot.types import GenerationRequest

log = logging.getLogger(__name__)

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_PROMPT_CHARS = 8192
DRAIN_LIMIT_BYTES = 256 * 1024  # an unwanted body up to this size is read, so the client sees our answer
RESERVED_FDS = 64  # descriptors kept free for the generator, logs and model files


class _RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ServerOptions:
    """How the server listens and what it bounds. `token`: the bearer token clients must send (None: no auth)."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS  # decoded pixels of the source image
    backlog: int = 128  # listen queue of connections not yet accepted
    max_connections: int = 256  # open connections (one thread each); past it: 503 and close
    max_concurrent_requests: int = 8  # /edit requests being read, decoded and generated at once
    queue_timeout_s: float = 10.0  # how long a request waits for a slot before 503
    header_timeout_s: float = 10.0  # request line and headers (and keep-alive idle time); clients send them at once
    request_timeout_s: float = 30.0  # whole body, and (separately) whole answer
    socket_timeout_s: float = 60.0  # one read or write on a connection
    retry_after_s: int = 1  # the Retry-After of a 503

    def __post_init__(self):
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        if self.max_request_bytes < 1024:
            raise ConfigError(f"max_request_bytes must be >= 1024, got {self.max_request_bytes}")
        for name in ("max_pixels", "backlog", "max_connections", "max_concurrent_requests", "retry_after_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("queue_timeout_s", "header_timeout_s", "request_timeout_s", "socket_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")

    def __repr__(self) -> str:  # never show the token
        return (f"ServerOptions(host={self.host!r}, port={self.port}, token={'***' if self.token else None}, "
                f"max_request_bytes={self.max_request_bytes}, max_connections={self.max_connections}, "
                f"max_concurrent_requests={self.max_concurrent_requests})")


def parse_edit_request(body: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> GenerationRequest:
    """Validate a /edit JSON body into a GenerationRequest; _RequestError(400/413) naming the problem."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _RequestError(400, f"body is not JSON: {exc}") from None
    except RecursionError:
        raise _RequestError(400, "body is not JSON: nested too deeply") from None
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
        source = None if image is None else image_from_base64(image, "image", max_pixels)
    except ImageTooLargeError as exc:
        raise _RequestError(413, str(exc)) from None
    except ImageError as exc:
        raise _RequestError(400, str(exc)) from None
    return GenerationRequest(prompt=prompt, seed=seed, source_image=source)


def _json_response(status: int, reason: str, payload: dict, extra_headers: str = "") -> bytes:
    body = json.dumps(payload).encode("utf-8")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{extra_headers}Connection: close\r\n\r\n")
    return head.encode("ascii") + body


class _BoundedHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a real backlog, a connection cap and one log line per failed connection."""

    daemon_threads = True
    block_on_close = False  # close() (Ctrl-C) must not wait for idle kept-alive clients

    def __init__(self, options: ServerOptions, handler: type):
        self.options = options
        self.request_queue_size = options.backlog  # read by server_activate's listen()
        soft_fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        fd_room = soft_fds - RESERVED_FDS if soft_fds != resource.RLIM_INFINITY else 1 << 20
        linger_cap = min(128, fd_room // 4)  # refused sockets being closed gently hold descriptors too
        if fd_room - linger_cap < 1:
            raise ConfigError(f"the file-descriptor limit ({soft_fds}) leaves no room for connections")
        self.max_connections = min(options.max_connections, fd_room - linger_cap)
        self.connections = threading.BoundedSemaphore(self.max_connections)
        self.lingerer = Lingerer(max_sockets=max(linger_cap, 1))
        self._to_linger: set[socket.socket] = set()
        self._linger_lock = threading.Lock()
        self.request_slots = threading.BoundedSemaphore(options.max_concurrent_requests)
        self.deadlines = SocketDeadlines("generator-server-deadlines")
        self.refusal = _json_response(503, "Service Unavailable",
                                      {"success": False, "error": "server busy: too many connections"},
                                      f"Retry-After: {options.retry_after_s}\r\n")
        super().__init__((options.host, options.port), handler)

    def get_request(self):
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                log.warning("accept failed (%s); pausing 50 ms", exc.strerror)
                time.sleep(0.05)  # the listen socket stays readable: without a pause this loop spins a core
            raise

    def process_request(self, request, client_address):
        if not self.connections.acquire(blocking=False):
            log.info("client %s refused: %d connections open", client_address[0], self.max_connections)
            try:
                request.setblocking(False)
                request.send(self.refusal)  # a few hundred bytes: fits the socket buffer, never blocks
            except OSError:
                pass
            self.lingerer.close_gently(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.deadlines.disarm(request)
            self.connections.release()

    def linger_on_close(self, request: socket.socket) -> None:
        """Close `request` gently when its handler is done (request bytes are left unread)."""
        with self._linger_lock:
            self._to_linger.add(request)

    def shutdown_request(self, request):
        with self._linger_lock:
            gently = request in self._to_linger
            self._to_linger.discard(request)
        if gently:
            self.lingerer.close_gently(request)
        else:
            super().shutdown_request(request)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        log.warning("client %s: connection failed: %s: %s", client_address[0], type(exc).__name__, exc)

    def server_close(self):
        super().server_close()
        self.deadlines.close()
        self.lingerer.stop()


def _make_handler(generator: Generator, name: str, options: ServerOptions) -> type:
    class Handler(BaseHTTPRequestHandler):
        timeout = options.socket_timeout_s
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
        # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK adds ~40 ms.
        disable_nagle_algorithm = True
        server_version = "interleave-robot-generator"
        server: _BoundedHTTPServer

        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            log.debug("%s %s", self.address_string(), format % args)

        def log_error(self, format, *args):  # noqa: A002 - protocol errors (400/414/431, timeouts): one line
            log.info("client %s: %s", self.address_string(), format % args)
            self._logged = True

        def handle_one_request(self):
            # The deadline covers waiting for the request line (keep-alive idle time) and the headers; the
            # body gets its own once a slot is held. SHUT_RD leaves the socket writable for the 408.
            self.server.deadlines.arm(self.connection, options.header_timeout_s, socket.SHUT_RD)
            self._logged = False
            try:
                super().handle_one_request()
            finally:
                self.server.deadlines.disarm(self.connection)

        def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode("utf-8")
            deadlines = self.server.deadlines
            deadlines.arm(self.connection, options.request_timeout_s, socket.SHUT_RDWR)  # a client that never reads
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if self.close_connection:  # tell keep-alive clients not to reuse this connection
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except OSError as exc:  # the client left (or never read): one line, unless _error logged it
                self.close_connection = True
                if not self._logged:
                    log.info("client %s: gone before its answer was written (%s)", self.address_string(),
                             type(exc).__name__)
            finally:
                if deadlines.disarm(self.connection):
                    self.close_connection = True

        def _error(self, status: int, message: str, headers: dict | None = None) -> None:
            log.info("client %s: %d %s", self.address_string(), status, message[:200])
            self._logged = True  # one line per bad request: a failed write of this answer adds none
            self._send(status, {"success": False, "error": message}, headers)

        def _timed_out(self) -> bool:
            """Answer 408 if the request deadline passed while reading the request line or headers."""
            if not self.server.deadlines.expired(self.connection):
                return False
            self.close_connection = True
            self._error(408, f"request headers not received within {options.header_timeout_s:g} s")
            return True

        def _authorised(self) -> bool:
            if options.token is None:
                return True
            sent = self.headers.get("Authorization", "")
            return hmac.compare_digest(sent.encode("utf-8", "replace"), f"Bearer {options.token}".encode("utf-8"))

        def do_GET(self):
            if self._timed_out():
                return
            if self.path.split("?")[0] == "/health":
                self._send(200, {"status": "ok", "generator": name})
            else:
                self._error(404, f"no such path: {self.path[:100]}")

        def do_POST(self):
            if self._timed_out():
                return
            if self.path.split("?")[0] != "/edit":
                self._discard_body()
                return self._error(404, f"no such path: {self.path[:100]}")
            try:
                size = self._check_headers()
            except _RequestError as exc:
                return self._error(exc.status, str(exc))
            slots = self.server.request_slots
            deadlines = self.server.deadlines
            deadlines.disarm(self.connection)  # waiting for a slot is bounded by queue_timeout_s instead
            if not slots.acquire(timeout=options.queue_timeout_s):
                self._discard_body()
                return self._error(503, f"server busy: {options.max_concurrent_requests} requests in progress",
                                   {"Retry-After": str(options.retry_after_s)})
            try:
                deadlines.arm(self.connection, options.request_timeout_s, socket.SHUT_RD)
                body = self.rfile.read(size)
                if deadlines.disarm(self.connection) or len(body) < size:
                    self.close_connection = True
                    return self._error(408, f"request body not received within {options.request_timeout_s:g} s")
                self._generate(body)
            finally:
                slots.release()

        def _generate(self, body: bytes) -> None:
            try:
                request = parse_edit_request(body, options.max_pixels)
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

        def _check_headers(self) -> int:
            """The body size, once the token and Content-Length are right; _RequestError otherwise."""
            if not self._authorised():
                self._discard_body()
                raise _RequestError(401, "missing or wrong bearer token")
            length = self.headers.get("Content-Length")
            if length is None:
                self._close_unread()
                raise _RequestError(411, "Content-Length is required")
            if not length.strip().isdigit():
                self._close_unread()
                raise _RequestError(400, "Content-Length is not a non-negative integer")
            size = int(length) if len(length) < 20 else options.max_request_bytes + 1
            if size > options.max_request_bytes:
                self._close_unread()  # the unread body must not be parsed as the next request
                raise _RequestError(413, f"request body of {length.strip()[:20]} bytes is over the "
                                         f"{options.max_request_bytes} byte bound")
            return size

        def _close_unread(self) -> None:
            """End the connection after this answer, gently: the client may still be sending."""
            self.close_connection = True
            self.server.linger_on_close(self.connection)

        def _discard_body(self) -> None:
            # Unread bodies would corrupt a kept-alive connection; small ones are drained (so the client
            # reads our answer instead of a reset), others dropped with the connection.
            length = self.headers.get("Content-Length", "")
            if length.isdigit() and int(length) <= DRAIN_LIMIT_BYTES:
                self.server.deadlines.arm(self.connection, options.request_timeout_s, socket.SHUT_RD)
                self.rfile.read(int(length))
                if self.server.deadlines.disarm(self.connection):
                    self.close_connection = True
            else:
                self._close_unread()

        def do_PUT(self):
            if self._timed_out():
                return
            self._discard_body()
            self._error(405, "method not allowed")

        do_DELETE = do_PATCH = do_PUT

    return Handler


class GeneratorServer:
    """A bounded threading HTTP server around one generator; `start()` serves in a background thread."""

    def __init__(self, generator: Generator, name: str, options: ServerOptions | None = None):
        self.options = options or ServerOptions()
        self.generator = generator
        self.httpd = _BoundedHTTPServer(self.options, _make_handler(generator, name, self.options))
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

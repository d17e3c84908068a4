"""One HTTP request with a total deadline, for the HTTP backends (generator client, OpenAI-compatible VLM).

`requests`' timeout bounds each socket read: a server sending one byte a second kept a
5-second call alive for 40 s, and a connection closed mid-response surfaced as urllib3's
ProtocolError, outside requests' exception tree. Here a call is http.client on a socket
armed with the call's deadline (interleave_robot.deadlines), and every transport failure
is one exception type, `TransportError`, whose `kind` says what happened:

- "connect": nothing was sent (refused, unreachable, connect timeout): safe to fail over;
- "timeout": the deadline passed (connect, send, headers or body);
- "io": the connection broke or the answer was malformed or truncated.

Connections are kept alive per thread and per (scheme, host, port). A kept-alive connection
the server has meanwhile closed is retried once on a fresh one, as browsers and urllib3 do.
"""
from __future__ import annotations

import http.client
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from interleave_robot.deadlines import SocketDeadlines

DEADLINES = SocketDeadlines("http-call-deadlines")  # one watchdog thread for every client in the process


def check_url(url: str, what: str) -> str | None:
    """The reason `url` is not an http(s) URL with a host and a valid port, or None when it is."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"{what} {url!r} is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{what} must be http://HOST[:PORT]/... or https://..., got {url!r}"
    if port == 0:
        return f"{what} {url!r} has port 0"
    return None


class TransportError(Exception):
    """The request did not complete; `kind` is "connect", "timeout" or "io"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class HTTPReply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class HTTPCaller:
    """Makes HTTP requests with a total deadline each; thread-safe (connections are per thread)."""

    def __init__(self, connect_timeout_s: float = 5.0):
        self.connect_timeout_s = connect_timeout_s
        self._local = _Pool()
        self._lock = threading.Lock()
        self._all: list[http.client.HTTPConnection] = []  # every connection made, to close them all

    def request(self, method: str, url: str, body: bytes | None, headers: dict, timeout_s: float,
                max_bytes: int) -> HTTPReply:
        """Send one request and read the whole answer (at most `max_bytes`) within `timeout_s` seconds.

        TransportError on any transport failure; an answer over `max_bytes` is kind "io".
        """
        deadline = time.monotonic() + timeout_s
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.hostname, parts.port)
        for fresh_try in (False, True):
            conn, reused = self._connection(key, fresh_try)
            try:
                return self._exchange(conn, method, path, body, headers, deadline, max_bytes)
            except _StaleConnection:
                self._drop(key, conn)
                if not reused or fresh_try:
                    raise TransportError("io", "the server closed the connection without answering") from None
            except TransportError:
                self._drop(key, conn)
                raise
        raise AssertionError("unreachable")

    def _exchange(self, conn, method, path, body, headers, deadline, max_bytes) -> HTTPReply:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportError("timeout", "no time left for the request")
        if conn.sock is None:
            conn.timeout = min(self.connect_timeout_s, remaining)
            try:
                conn.connect()
            except TimeoutError:
                raise TransportError("connect", f"connect timeout after {conn.timeout:.3g} s") from None
            except (OSError, ssl.SSLError) as exc:
                raise TransportError("connect", f"cannot connect: {_describe(exc)}") from None
            remaining = deadline - time.monotonic()
        sock = conn.sock
        sock.settimeout(max(remaining, 0.001))
        DEADLINES.arm(sock, max(remaining, 0.001))
        got_answer = False
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            got_answer = True
            if response.length is not None and response.length > max_bytes:
                raise TransportError("io", f"the answer's {response.length} bytes are over the {max_bytes} byte bound")
            # With a Content-Length, read() raises IncompleteRead on a short answer; read(n) would not.
            data = response.read() if response.length is not None else response.read(max_bytes + 1)
            if DEADLINES.expired(sock):  # shut down mid-read: what arrived is a fragment
                raise TransportError("timeout", "the deadline passed")
            if len(data) > max_bytes:
                raise TransportError("io", f"the answer is over the {max_bytes} byte bound")
            reply = HTTPReply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
            if response.will_close:
                conn.close()
            return reply
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if DEADLINES.disarm(sock) or isinstance(exc, TimeoutError):
                raise TransportError("timeout", "the deadline passed") from None
            if not got_answer and isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError,
                                                   BrokenPipeError)):
                raise _StaleConnection() from None
            raise TransportError("io", f"the connection broke: {_describe(exc)}") from None
        finally:
            DEADLINES.disarm(sock)

    def _connection(self, key, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        pool = self._local.connections
        conn = None if fresh else pool.get(key)
        if conn is not None:
            return conn, conn.sock is not None
        scheme, host, port = key
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=self.connect_timeout_s,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.connect_timeout_s)
        pool[key] = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _drop(self, key, conn) -> None:
        conn.close()
        pool = self._local.connections
        if pool.get(key) is conn:
            del pool[key]
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)

    def close(self) -> None:
        """Close every connection this caller opened, in every thread."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


class _Pool(threading.local):
    """This thread's kept-alive connections, by (scheme, host, port)."""

    def __init__(self):
        self.connections: dict[tuple, http.client.HTTPConnection] = {}


class _StaleConnection(Exception):
    """A kept-alive connection closed by the server before it answered."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__

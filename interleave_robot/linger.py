"""Closing a refused connection so that its client reads the refusal instead of a reset.

A server that answers 503 and closes at once while the client is still sending makes the
client's kernel reset the connection, and the client sees "connection reset" or "broken
pipe", not the 503 (measured: the 503s of a connection cap reached about half of the
clients). `Lingerer` takes such sockets: it shuts down the sending side (the answer is
complete), then reads and drops whatever the client still sends, for at most `linger_s`,
and closes. One daemon thread with a selector serves them all; at most `max_sockets` at a
time, beyond which a socket is closed at once.
"""
from __future__ import annotations

import queue
import selectors
import socket
import threading
import time


class Lingerer:
    """Gentle closes for refused connections, on one background thread."""

    def __init__(self, linger_s: float = 2.0, max_sockets: int = 1024):
        self.linger_s = linger_s
        self.max_sockets = max_sockets
        self._incoming: queue.SimpleQueue = queue.SimpleQueue()
        self._count = 0  # sockets handed over and not yet closed
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def close_gently(self, sock: socket.socket) -> None:
        """Finish `sock` (its answer already written): FIN now, drain, close within `linger_s`."""
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            if self._stopped or self._count >= self.max_sockets:
                sock.close()
                return
            self._count += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="lingerer", daemon=True)
                self._thread.start()
        self._incoming.put(sock)

    def stop(self) -> None:
        """Close every lingering socket now and end the thread."""
        with self._lock:
            self._stopped = True
        self._incoming.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        running = True
        while running or selector.get_map():
            while True:
                try:
                    sock = self._incoming.get_nowait()
                except queue.Empty:
                    break
                if sock is None:
                    running = False
                    continue
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ, time.monotonic() + self.linger_s)
            now = time.monotonic()
            for key in list(selector.get_map().values()):
                if not running or key.data <= now:
                    self._finish(selector, key.fileobj)
            for key, _ in selector.select(timeout=0.05) if selector.get_map() else ():
                try:
                    data = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:  # the client closed its side: done
                    self._finish(selector, key.fileobj)
            if not selector.get_map() and running:
                sock = self._incoming.get()  # idle: sleep until the next socket
                self._incoming.put(sock)
        selector.close()

    def _finish(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        selector.unregister(sock)
        sock.close()
        with self._lock:
            self._count -= 1

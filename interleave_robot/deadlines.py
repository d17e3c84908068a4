"""Whole-operation deadlines on sockets: a watchdog that shuts a socket down when its time is up.

A socket timeout bounds one read or write; a peer that trickles one byte a second never
trips it, so a request (server side) or a call (client side) could last forever. A socket
armed here is shut down when its deadline passes, which wakes every thread blocked on it;
the owner then asks `disarm` whether that happened. One daemon thread serves all sockets.
"""
from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time


class SocketDeadlines:
    """Arm a socket with a deadline; past it the socket is shut down (`how`: SHUT_RD lets a server
    still write its 408 answer, SHUT_RDWR ends everything)."""

    def __init__(self, name: str = "socket-deadlines"):
        self._name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._armed: dict[socket.socket, tuple[float, int, int]] = {}  # sock -> (deadline, seq, how)
        self._fired: set[socket.socket] = set()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def arm(self, sock: socket.socket, seconds: float, how: int = socket.SHUT_RDWR) -> None:
        """(Re)arm `sock` to be shut down `seconds` from now; clears an earlier expiry."""
        deadline = time.monotonic() + seconds
        with self._cond:
            seq = next(self._seq)
            self._armed[sock] = (deadline, seq, how)
            self._fired.discard(sock)
            heapq.heappush(self._heap, (deadline, seq, sock))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, sock: socket.socket) -> bool:
        """Stop watching `sock`; True if its deadline had passed (it was shut down)."""
        with self._cond:
            self._armed.pop(sock, None)
            if sock in self._fired:
                self._fired.discard(sock)
                return True
            return False

    def expired(self, sock: socket.socket) -> bool:
        """Whether `sock`'s deadline has passed (it stays armed)."""
        with self._cond:
            return sock in self._fired

    def close(self) -> None:
        """Stop the watchdog thread (armed sockets are left as they are)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _serve(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    deadline, seq, sock = heapq.heappop(self._heap)
                    entry = self._armed.get(sock)
                    if entry is None or entry[1] != seq:
                        continue  # disarmed or re-armed since: a stale heap entry
                    del self._armed[sock]
                    self._fired.add(sock)
                    try:
                        sock.shutdown(entry[2])
                    except OSError:  # already closed by its owner
                        pass
                self._cond.wait(timeout=(self._heap[0][0] - now) if self._heap else None)

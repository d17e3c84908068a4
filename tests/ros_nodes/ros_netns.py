"""A private network namespace with only `lo` up, for the DDS tests (nothing leaves loopback).

`enter()` moves the calling thread (pytest's main thread) into a fresh network namespace
(unshare(CLONE_NEWNET), needs root or CAP_SYS_ADMIN) and brings `lo` up; every thread and
subprocess started from it afterwards (Cyclone's and Fast DDS's threads, the node processes)
is in that namespace too. `leave()` moves the thread back, so the tests after the ROS tests
run where they started. Neither Fast DDS nor Cyclone can reach another interface from there,
whatever their configuration says: a Fast DDS XML profile alone did not keep Fast DDS off the
network (issue 11).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


class NamespaceUnavailable(RuntimeError):
    """unshare(CLONE_NEWNET) is not permitted here (not root, or a sandbox forbids it)."""


def _netns_id() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


def interfaces() -> list[str]:
    """Network interfaces visible to the calling thread (its namespace's)."""
    return sorted(name for _, name in socket.if_nameindex())


class IsolatedNetwork:
    """enter() / leave() a loopback-only network namespace (the calling thread)."""

    def __init__(self):
        self._saved: int | None = None
        self.namespace = ""

    def enter(self) -> "IsolatedNetwork":
        libc = ctypes.CDLL(None, use_errno=True)
        saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        if libc.unshare(CLONE_NEWNET) != 0:
            os.close(saved)
            raise NamespaceUnavailable(f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())}")
        self._saved = saved
        try:
            _loopback_up()
        except OSError as exc:
            self.leave()
            raise NamespaceUnavailable(f"cannot bring lo up in the new namespace: {exc}") from None
        self.namespace = _netns_id()
        return self

    def leave(self) -> None:
        if self._saved is None:
            return
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns(self._saved, CLONE_NEWNET)
        os.close(self._saved)
        self._saved = None

"""Shared fixtures of the ROS tests: a private loopback DDS domain per test run."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import itertools
import json
import threading
import time

import pytest

# A domain id per test process (from the pid), so parallel runs and other engineers' tests
# never see each other's traffic; loopback-only discovery keeps it off the network.
_BASE = 100 + os.getpid() % 120
_ids = itertools.count()


@pytest.fixture
def dds_config():
    from interleave_robot.ros_nodes.transport_dds import DDSConfig

    # One domain per test process: Cyclone allows one configured Domain per id, and the
    # unique topic names below keep tests within the process apart.
    return DDSConfig(domain_id=_BASE, loopback=True)


@pytest.fixture
def ns():
    """A unique topic namespace per test."""
    return f"/t{os.getpid()}_{next(_ids)}"


class Inbox:
    """Collects messages from a subscription; `wait(n)` blocks until n arrived or times out."""

    def __init__(self):
        self.items = []
        self._cond = threading.Condition()

    def __call__(self, msg):
        with self._cond:
            self.items.append(msg)
            self._cond.notify_all()

    def wait(self, n: int = 1, timeout: float = 10.0, where=None):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                items = [m for m in self.items if where is None or where(m)]
                if len(items) >= n:
                    return items
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"got {len(items)} of {n} messages within {timeout} s: {self.items!r:.500}")
                self._cond.wait(left)

    def statuses(self):
        return [json.loads(m.data) for m in list(self.items)]


@pytest.fixture
def inbox():
    return Inbox


def wait_matched(endpoint, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while endpoint.matched_count() == 0:
        if time.monotonic() > deadline:
            raise AssertionError("endpoints did not match within the timeout")
        time.sleep(0.005)


@pytest.fixture(name="wait_matched")
def wait_matched_fixture():
    return wait_matched

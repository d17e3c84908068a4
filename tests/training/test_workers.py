"""training.workers.share_work: every task's result in task order, whichever process computed it;
this process and the pool's children both work; a task's error reaches the caller."""
from __future__ import annotations

import os
import time

import pytest

from interleave_robot.training.workers import share_work, spawn_pool


def tagged_square(x: int) -> tuple[int, int]:
    time.sleep(0.03)
    return x * x, os.getpid()


def fail_on_first(x: int) -> int:
    if x == 0:
        raise ValueError("task 0 fails")
    time.sleep(0.02)
    return x


def test_results_come_back_in_task_order_from_both_processes():
    seen = []
    with spawn_pool(1) as pool:
        out = share_work(pool, tagged_square, list(range(30)), tagged_square, seen.append)
    assert [value for value, _ in out] == [x * x for x in range(30)]
    pids = {pid for _, pid in out}
    assert os.getpid() in pids and len(pids) == 2  # the child took tasks from the front, this process from the back
    assert sorted(seen) == sorted(out)  # on_result saw every result once
    child = [i for i, (_, pid) in enumerate(out) if pid != os.getpid()]
    assert child == list(range(len(child)))  # the child's share is a prefix: the two met in the middle


def test_without_a_pool_tasks_run_here_in_order():
    assert share_work(None, tagged_square, [3, 1, 2]) == [(9, os.getpid()), (1, os.getpid()), (4, os.getpid())]
    assert share_work(None, tagged_square, [], tagged_square) == []


def test_an_error_in_a_child_task_reaches_the_caller():
    with spawn_pool(1) as pool, pytest.raises(ValueError, match="task 0 fails"):
        share_work(pool, fail_on_first, list(range(6)), fail_on_first)

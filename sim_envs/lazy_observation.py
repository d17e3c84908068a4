"""Observations rendered only when looked at: a dict whose image entries are drawn on first access.

An env step moves physics for 20 ms of simulated time; rendering its RGB and depth frames
costs more than the physics itself, and most steps' frames are never read (a scripted
controller reads the gripper reading only). `LazyObservation` keeps the Gymnasium contract
(a dict with every key of the observation space, values of the right shape, picklable,
copyable) while the renderer runs only for an entry someone reads. The entry is the frame
of the step that returned it, even when read later: the env passes a render function bound
to a snapshot of that step's state.
"""
from __future__ import annotations

from typing import Any, Callable

_PENDING = object()


class LazyObservation(dict):
    """A dict observation; `lazy` entries are computed by their function on first access."""

    def __init__(self, eager: dict[str, Any], lazy: dict[str, Callable[[], Any]]):
        super().__init__(eager)
        for key in lazy:
            super().__setitem__(key, _PENDING)
        self._lazy = dict(lazy)

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if value is _PENDING:
            value = self._lazy.pop(key)()
            super().__setitem__(key, value)
        return value

    @property
    def pending(self) -> list[str]:
        """Entries not rendered yet."""
        return list(self._lazy)

    def materialize(self) -> "LazyObservation":
        """Compute every pending entry now."""
        for key in list(self._lazy):
            self[key]
        return self

    def get(self, key, default=None):
        return self[key] if key in self else default

    def values(self):
        return [self[k] for k in self]

    def items(self):
        return [(k, self[k]) for k in self]

    def copy(self) -> dict:
        return {k: self[k] for k in self}

    def __eq__(self, other):
        return dict.__eq__(self.materialize(), other)

    __hash__ = None

    def __reduce__(self):  # pickle / deepcopy: the rendered values, nothing left pending
        return LazyObservation, (self.copy(), {})

    def __repr__(self) -> str:
        shown = {k: ("<not rendered>" if k in self._lazy else dict.__getitem__(self, k)) for k in self}
        return f"LazyObservation({shown!r})"

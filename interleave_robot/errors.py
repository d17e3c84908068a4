"""Typed errors. Every failure a user can cause or meet has its own class and a one-line message.

`redact` cleans text a remote server sent (error bodies) before it goes into an error
message: such messages end up in summary.json, trajectory.jsonl, report.html and the terminal.
"""
from __future__ import annotations

import re

REDACTED = "<redacted>"
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_KEYED = re.compile(r"(?i)\b(authorization|proxy-authorization|x-api-key|api[_-]?key|access[_-]?token|"
                    r"refresh[_-]?token|client[_-]?secret|secret|password|token)\b"
                    r"([\"']?[ \t]{0,4}[:=][ \t]{0,4}[\"']?)"
                    r"(?!<redacted>|bearer\s|basic\s)[^\s\"',;&}]+")
_KEY_LIKE = re.compile(r"\b(sk|pk|rk|hf|ghp|gho|xox[abp])[-_][A-Za-z0-9_-]{8,}")
REDACT_WINDOW = 8192  # only this much of a body is redacted (and so may be quoted)


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """`text` (its first REDACT_WINDOW characters) with the given secrets and anything shaped like a
    credential (Bearer/Basic values, `api_key=...`, `Authorization: ...`, `sk-...` keys) replaced by <redacted>."""
    text = text[:REDACT_WINDOW]
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _KEY_LIKE.sub(REDACTED, text)


class InterleaveError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(InterleaveError, ValueError):
    """A bad option: unknown backend name, unknown or ill-typed config field, bad value."""


class OutputFormatError(InterleaveError, ValueError):
    """A model answer that does not follow the output contract (the reason is in the message)."""


class ImageError(InterleaveError, ValueError):
    """An image that cannot be decoded, is empty, or exceeds the size bounds."""


class ImageTooLargeError(ImageError):
    """An image whose declared size (bytes, sides or decoded pixels) exceeds the bounds."""


class CheckpointNotFoundError(InterleaveError, FileNotFoundError):
    """A model directory or checkpoint that does not exist or lacks its weights."""


class BackendError(InterleaveError, RuntimeError):
    """A backend failed (HTTP error, model error, generator refused the request)."""


class BackendTimeoutError(BackendError, TimeoutError):
    """A backend call exceeded its timeout."""


class RecordError(InterleaveError, ValueError):
    """A stored record (a run-directory file, a message) with missing, unknown or ill-typed fields."""


class RunStoreError(InterleaveError, RuntimeError):
    """A run directory that cannot be written, read or resumed."""

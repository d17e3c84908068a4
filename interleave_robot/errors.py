"""Typed errors. Every failure a user can cause or meet has its own class and a one-line message."""


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


class RunStoreError(InterleaveError, RuntimeError):
    """A run directory that cannot be written, read or resumed."""

"""The VLM chat interface the planner and critic agents talk to: messages of text and images -> text.

A chat backend (in-process transformers model, OpenAI-compatible HTTP server, ...) implements
`VLMChat.chat`. Images are RGB uint8 numpy arrays, the project's image type everywhere.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from interleave_robot.errors import ConfigError
from interleave_robot.images import check_image

ROLES = ("system", "user", "assistant")

Part = Union[str, np.ndarray]  # a message part: text, or an RGB uint8 HxWx3 image


@dataclass
class ChatMessage:
    """One chat turn: a role and an ordered list of parts (text strings and images)."""

    role: str
    parts: list[Part] = field(default_factory=list)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ConfigError(f"chat role must be one of {', '.join(ROLES)}, got {self.role!r}")
        for i, part in enumerate(self.parts):
            if not isinstance(part, str):
                check_image(part, f"message part {i}")

    @property
    def images(self) -> list[np.ndarray]:
        return [p for p in self.parts if not isinstance(p, str)]

    @property
    def text(self) -> str:
        """The text parts joined (for logs and tests)."""
        return "".join(p for p in self.parts if isinstance(p, str))


class VLMChat(ABC):
    """messages (text + images) -> the model's answer text. Backends take one config dataclass."""

    config_class: type

    @abstractmethod
    def chat(self, messages: list[ChatMessage]) -> str:
        """Raise BackendError / BackendTimeoutError on failure."""

    def close(self) -> None:
        """Free models and connections. Default: nothing to free."""

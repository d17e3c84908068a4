"""Planner and critic agents on top of any VLM chat backend (registry VLM_BACKENDS).

Each agent renders its prompt template (package data, or a user file), asks the VLM once, and
parses the answer with the output-contract parsers; a malformed answer raises
OutputFormatError. How often to ask again is decided in one place, the pipeline
(`PipelineConfig.max_format_retries`); the agent only makes the retry useful: when it is asked
the same question again in the same thread, right after an answer out of format, it shows the
model that answer and the parser's reason.
"""
from __future__ import annotations

import hashlib
import json
import logging
import string
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, TypeVar

from interleave_robot.agents import Critic, Planner
from interleave_robot.config import json_object_option
from interleave_robot.errors import ConfigError, OutputFormatError
from interleave_robot.parsing import parse_plan, parse_verdict
from interleave_robot.registry import VLM_BACKENDS
from interleave_robot.types import CritiqueRequest, Observation, Plan, Task, Verdict
from interleave_robot.backends.vlm_base import ChatMessage, VLMChat

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TEMPLATE_BYTES = 64 * 1024
RETRY_MESSAGE = ("Your answer did not follow the required format ({reason}). Answer again: reasoning inside "
                 "<think></think>, then only the JSON inside <answer></answer>.")


def load_template(path: str, default_name: str, fields: tuple[str, ...]) -> string.Template:
    """The user's template file, or the packaged one; ConfigError if it is missing or lacks a field."""
    if path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise ConfigError(f"template file not found: {path}")
        if file.stat().st_size > MAX_TEMPLATE_BYTES:
            raise ConfigError(f"template file {path} is over {MAX_TEMPLATE_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    else:
        text = (resources.files("interleave_robot") / "templates" / default_name).read_text(encoding="utf-8")
    template = string.Template(text)
    if not template.is_valid():
        raise ConfigError(f"template {path or default_name} has a malformed $placeholder (write $$ for a dollar)")
    unknown = set(template.get_identifiers()) - set(fields)
    if unknown:
        raise ConfigError(f"template {path or default_name} uses unknown field(s) {', '.join(sorted(unknown))}; "
                          f"available: {', '.join(fields)}")
    return template


@dataclass
class VLMAgentConfig:
    """Options shared by the VLM planner and critic.

    `vlm` names a VLM_BACKENDS entry; `vlm_options` are its options (a dict, or a JSON object
    string from the command line); `model` is a shortcut for vlm_options["model"].
    """

    vlm: str = "transformers"
    model: str = ""
    vlm_options: dict | str = field(default_factory=dict)
    template: str = ""  # path of a user template file; empty: the packaged one
    system_prompt: str = ""
    share_vlm: bool = True  # agents with the same vlm and vlm_options share one loaded model

    def __post_init__(self):
        self.vlm_options = json_object_option("vlm_options", self.vlm_options)
        if self.model:
            if "model" in self.vlm_options and self.vlm_options["model"] != self.model:
                raise ConfigError("give the model either as 'model' or inside vlm_options, not both")
            self.vlm_options = {**self.vlm_options, "model": self.model}
        if self.vlm not in VLM_BACKENDS.names():
            raise ConfigError(f"unknown vlm backend {self.vlm!r}; choose one of: {', '.join(VLM_BACKENDS.names())}")


@dataclass
class VLMPlannerConfig(VLMAgentConfig):
    max_steps: int = 5

    def __post_init__(self):
        super().__post_init__()
        if self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {self.max_steps}")


@dataclass
class VLMCriticConfig(VLMAgentConfig):
    pass


class _SharedVLMs:
    """VLMs built from identical (backend, options) and shared by the agents of this process, so a
    planner and a critic on the same checkpoint load it once. Reference-counted: the last release closes it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], list] = {}  # key -> [vlm, users]

    def acquire(self, name: str, options: dict) -> tuple[tuple[str, str], VLMChat]:
        key = (name, json.dumps(options, sort_keys=True, default=str))
        with self._lock:  # held while building: a second agent waits instead of loading the model twice
            if key not in self._entries:
                self._entries[key] = [VLM_BACKENDS.build(name, options), 0]
            entry = self._entries[key]
            entry[1] += 1
            return key, entry[0]

    def release(self, key: tuple[str, str]) -> None:
        with self._lock:
            entry = self._entries[key]
            entry[1] -= 1
            if entry[1] == 0:
                del self._entries[key]
                entry[0].close()


SHARED_VLMS = _SharedVLMs()


class _LastFailure(threading.local):
    value = None  # (question key, answer, reason) of this thread's last answer out of format, or None


class _VLMAgent:
    """Shared machinery: owns, shares or borrows a VLM, asks it, retries malformed answers."""

    template_name: str
    template_fields: tuple[str, ...]

    def __init__(self, config: VLMAgentConfig, vlm: VLMChat | None = None):
        self.config = config
        self.template = load_template(config.template, self.template_name, self.template_fields)
        self._last_failure = _LastFailure()
        self._shared_key = None
        self._owns_vlm = False
        if vlm is not None:  # borrowed: the caller closes it
            self.vlm = vlm
        elif config.share_vlm:
            self._shared_key, self.vlm = SHARED_VLMS.acquire(config.vlm, config.vlm_options)
        else:
            self.vlm, self._owns_vlm = VLM_BACKENDS.build(config.vlm, config.vlm_options), True

    def _ask(self, images: list, values: dict[str, Any], parse: Callable[[str], T]) -> T:
        """One question, one answer: parsed, or OutputFormatError (the pipeline decides whether to ask again)."""
        text = self.template.substitute({k: str(v) for k, v in values.items()})
        messages = [ChatMessage("system", [self.config.system_prompt])] if self.config.system_prompt else []
        messages.append(ChatMessage("user", [*images, text]))
        key = _question_key(images, text)
        last, self._last_failure.value = self._last_failure.value, None
        if last is not None and last[0] == key:  # asked again after a bad answer: show it and why
            messages += [ChatMessage("assistant", [last[1]]),
                         ChatMessage("user", [RETRY_MESSAGE.format(reason=last[2])])]
        answer = self.vlm.chat(messages)
        try:
            return parse(answer)
        except OutputFormatError as exc:
            log.info("%s answer out of format: %s", type(self).__name__, exc)
            self._last_failure.value = (key, answer[:4000], str(exc)[:500])
            raise

    def close(self) -> None:
        """Release the VLM: closed if this agent owns it or was its last sharer; idempotent."""
        if self._shared_key is not None:
            SHARED_VLMS.release(self._shared_key)
            self._shared_key = None
        elif self._owns_vlm:
            self.vlm.close()
            self._owns_vlm = False


def _question_key(images: list, text: str) -> str:
    """A digest of one question (its images and text), to recognise the same question asked again."""
    digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16)
    for image in images:
        digest.update(repr(image.shape).encode())
        digest.update(image.tobytes())
    return digest.hexdigest()


class VLMPlanner(_VLMAgent, Planner):
    """task + observation image -> Plan, from a VLM answering in the InterleaveThinker format."""

    config_class = VLMPlannerConfig
    template_name = "planner.txt"
    template_fields = ("task", "max_steps")

    def plan(self, task: Task, observation: Observation) -> Plan:
        return self._ask([observation.image], {"task": task.text, "max_steps": self.config.max_steps},
                         self._parse)

    def _parse(self, text: str) -> Plan:
        plan = parse_plan(text)
        if len(plan.steps) > self.config.max_steps:
            raise OutputFormatError(f"the plan has {len(plan.steps)} steps, over max_steps={self.config.max_steps}")
        return plan


class VLMCritic(_VLMAgent, Critic):
    """(before, after, instruction, prompt) -> Verdict, from a VLM answering in the InterleaveThinker format."""

    config_class = VLMCriticConfig
    template_name = "critic.txt"
    template_fields = ("task", "instruction", "prompt", "step_name")

    def critique(self, request: CritiqueRequest) -> Verdict:
        values = {"task": request.task_text, "instruction": request.instruction,
                  "prompt": request.prompt, "step_name": request.step.step_name if request.step else ""}
        return self._ask([request.before_image, request.after_image], values, parse_verdict)

"""Scripted backends: dry runs, demos and benchmarks with no model weights.

- planner "static": returns a fixed plan (a JSON/answer file, a list of instructions, or a
  list of model-style answers parsed with `parse_plan`, one per call, so the real parser runs).
  A plan file is read and parsed when the planner is built: a missing, empty, malformed or
  oversized file is a ConfigError before the run starts.
- generator "echo": returns the source image (or a grey canvas for text-to-image) with a
  colour band derived from (prompt, seed), after an optional sleep; failures and hangs can
  be injected on chosen calls to rehearse error handling and timeouts.
- critic "always": accepts (or rejects) by a fixed rule, or replays model-style answers
  through `parse_verdict`.

They are honest tools, not models: nothing here judges or edits images meaningfully.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interleave_robot.agents import Critic, Generator, Planner
from interleave_robot.errors import BackendError, ConfigError, OutputFormatError
from interleave_robot.parsing import MAX_TEXT_CHARS, parse_plan, parse_verdict
from interleave_robot.types import (CritiqueRequest, GenerationRequest, GenerationResult, Observation, Plan, PlanStep,
                     Task, Verdict)

REFINE_SUFFIX = " [refined]"  # what the "always" critic appends to a prompt it rejects


@dataclass
class StaticPlannerConfig:
    """Exactly one source: `plan_file` (JSON, or an `<answer>` text), `steps` (instructions,
    also used as prompts) or `answers` (model-style answers, returned in turn, the last repeated)."""

    plan_file: str | None = None
    steps: list[str] | None = None
    answers: list[str] | None = None

    def __post_init__(self):
        sources = {"plan_file": self.plan_file, "steps": self.steps, "answers": self.answers}
        given = [name for name, value in sources.items() if value]
        if len(given) != 1:
            raise ConfigError(f"StaticPlannerConfig needs exactly one of plan_file, steps, answers; got {given or 'none'}")
        if self.steps is not None and not all(isinstance(s, str) and s.strip() for s in self.steps):
            raise ConfigError(f"StaticPlannerConfig.steps must be non-empty strings, got {self.steps!r}")


class StaticPlanner(Planner):
    """A planner that returns a plan given in advance."""

    config_class = StaticPlannerConfig

    def __init__(self, config: StaticPlannerConfig):
        self.config = config
        self._answers = list(config.answers or [])
        self._calls = 0
        if config.plan_file:
            self._answers = [_read_plan_file(Path(config.plan_file))]

    def plan(self, task: Task, observation: Observation) -> Plan:
        if self.config.steps:
            return Plan(steps=[PlanStep(step_number=i + 1, step_name=f"Step {i + 1}", instruction=s, prompt=s)
                               for i, s in enumerate(self.config.steps)])
        answer = self._answers[min(self._calls, len(self._answers) - 1)]
        self._calls += 1
        return parse_plan(answer)


def _read_plan_file(path: Path) -> str:
    """The text of the plan in `path`, parsed once now to refuse a bad file; ConfigError naming the problem."""
    try:
        if not path.is_file():
            raise ConfigError(f"static planner: plan_file not found: {path}")
        if path.stat().st_size > MAX_TEXT_CHARS:
            raise ConfigError(f"static planner: plan_file {path} is {path.stat().st_size} bytes, "
                              f"over the {MAX_TEXT_CHARS} byte bound")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"static planner: cannot read plan_file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"static planner: plan_file {path} is not UTF-8 text") from None
    try:
        parse_plan(text)
    except OutputFormatError as exc:
        raise ConfigError(f"static planner: plan_file {path}: {exc}") from None
    return text


@dataclass
class EchoGeneratorConfig:
    """`sleep_s` per call; `fail_calls`/`hang_calls`: 0-based call indices that raise
    BackendError / sleep `hang_s` first; `size` of the canvas for text-to-image."""

    sleep_s: float = 0.0
    fail_calls: list[int] | None = None
    hang_calls: list[int] | None = None
    hang_s: float = 30.0
    size: int = 64
    draw: bool = True

    def __post_init__(self):
        if not 0 <= self.sleep_s <= 3600:
            raise ConfigError(f"EchoGeneratorConfig.sleep_s must be in [0, 3600], got {self.sleep_s}")
        if not 0 <= self.hang_s <= 3600:
            raise ConfigError(f"EchoGeneratorConfig.hang_s must be in [0, 3600], got {self.hang_s}")
        if not 1 <= self.size <= 4096:
            raise ConfigError(f"EchoGeneratorConfig.size must be in [1, 4096], got {self.size}")


class EchoGenerator(Generator):
    """Returns its source image, marked so that attempts differ. Thread-safe.

    `state` of a result is {"call_index": n}; metadata records the call index and seed.
    """

    config_class = EchoGeneratorConfig

    def __init__(self, config: EchoGeneratorConfig):
        self.config = config
        self._fail = set(config.fail_calls or [])
        self._hang = set(config.hang_calls or [])
        self._lock = threading.Lock()
        self.calls = 0

    def generate(self, request: GenerationRequest) -> GenerationResult:
        with self._lock:
            index = self.calls
            self.calls += 1
        if index in self._hang:
            time.sleep(self.config.hang_s)
        if self.config.sleep_s:
            time.sleep(self.config.sleep_s)
        if index in self._fail:
            raise BackendError(f"echo generator: injected failure on call {index}")
        if request.source_image is None:
            image = np.full((self.config.size, self.config.size, 3), 128, dtype=np.uint8)
        else:
            image = request.source_image.copy()
        if self.config.draw:
            digest = hashlib.blake2b(f"{request.prompt}\0{request.seed}".encode(), digest_size=3).digest()
            band = max(1, image.shape[0] // 8)
            image[:band] = np.frombuffer(digest, dtype=np.uint8)
        return GenerationResult(image=image, state={"call_index": index},
                                metadata={"call_index": index, "seed": request.seed})


@dataclass
class AlwaysCriticConfig:
    """`accept`: the fixed answer; `reject_first`: reject a step's first N attempts (counted by
    REFINE_SUFFIX in the prompt, so the rule is stateless), then answer `accept`;
    `answers`: model-style answers replayed in turn (the last repeated) through parse_verdict;
    `sleep_s`: latency per call, to rehearse a slow critic."""

    accept: bool = True
    reject_first: int = 0
    answers: list[str] | None = None
    sleep_s: float = 0.0

    def __post_init__(self):
        if self.reject_first < 0:
            raise ConfigError(f"AlwaysCriticConfig.reject_first must be >= 0, got {self.reject_first}")
        if not 0 <= self.sleep_s <= 3600:
            raise ConfigError(f"AlwaysCriticConfig.sleep_s must be in [0, 3600], got {self.sleep_s}")


class AlwaysCritic(Critic):
    """A critic that answers by a fixed rule (or replays answers), never by looking."""

    config_class = AlwaysCriticConfig

    def __init__(self, config: AlwaysCriticConfig):
        self.config = config
        self._lock = threading.Lock()
        self.calls = 0

    def critique(self, request: CritiqueRequest) -> Verdict:
        with self._lock:
            index = self.calls
            self.calls += 1
        if self.config.sleep_s:
            time.sleep(self.config.sleep_s)
        if self.config.answers:
            return parse_verdict(self.config.answers[min(index, len(self.config.answers) - 1)])
        refinements = request.prompt.count(REFINE_SUFFIX)
        if refinements < self.config.reject_first or not self.config.accept:
            return Verdict(success=False, refine_prompt=request.prompt + REFINE_SUFFIX,
                           reason=f"scripted rejection {refinements + 1}")
        return Verdict(success=True, reason="scripted acceptance")

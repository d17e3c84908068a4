"""Small fixtures for the core tests: an image, an observation, scripted backends, a pipeline builder."""
from __future__ import annotations

import numpy as np
import pytest

from interleave_robot.backends.scripted import (AlwaysCritic, AlwaysCriticConfig, EchoGenerator, EchoGeneratorConfig,
                                                StaticPlanner, StaticPlannerConfig)
from interleave_robot.events import Event
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.types import Observation

STEPS = ["pick up the red block", "place the red block on the blue block", "put the green block on top"]


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)


@pytest.fixture
def observation(image) -> Observation:
    return Observation(image=image, state={"sim": "initial"})


class Recorder:
    """A listener keeping every event it receives."""

    def __init__(self):
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def make_pipeline(steps=STEPS, critic: dict | None = None, generator: dict | None = None, no_critic=False,
                  **config) -> GuidancePipeline:
    """A pipeline over the scripted backends; `critic`/`generator` are their config options."""
    return GuidancePipeline(StaticPlanner(StaticPlannerConfig(steps=list(steps))),
                            EchoGenerator(EchoGeneratorConfig(**(generator or {}))),
                            None if no_critic else AlwaysCritic(AlwaysCriticConfig(**(critic or {}))),
                            PipelineConfig(**config))

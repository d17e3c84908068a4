"""Users' backends for the sim episode tests, importable as `tests.sim_envs.sim_backends:Class`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interleave_robot.agents import Generator
from interleave_robot.types import GenerationResult


@dataclass
class WrongSizeConfig:
    size: int = 64


class WrongSizeGenerator(Generator):
    """Returns an image of the wrong size (a misconfigured editor)."""

    config_class = WrongSizeConfig

    def __init__(self, config: WrongSizeConfig):
        self.config = config

    def generate(self, request):
        return GenerationResult(image=np.zeros((self.config.size, self.config.size, 3), np.uint8))


@dataclass
class RaisingConfig:
    message: str = "editor crashed"


class RaisingGenerator(Generator):
    config_class = RaisingConfig

    def __init__(self, config: RaisingConfig):
        self.config = config

    def generate(self, request):
        raise RuntimeError(self.config.message)

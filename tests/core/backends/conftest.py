"""Fixtures for the backend tests: tiny models saved to disk once per session, local servers."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from interleave_robot.backends.scripted import EchoGenerator, EchoGeneratorConfig
from interleave_robot.generator_server import GeneratorServer, ServerOptions

from .tiny_models import build_tiny_flux2_klein, build_tiny_flux_kontext, build_tiny_instruct_pix2pix, build_tiny_vlm


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"))


@pytest.fixture(scope="session")
def tiny_vlm(tiny_vlm_dir):
    """One loaded TransformersVLM shared by the tests that only read from it."""
    from interleave_robot.registry import VLM_BACKENDS

    vlm = VLM_BACKENDS.build("transformers", {"model": str(tiny_vlm_dir), "processor": "image-only",
                                              "max_new_tokens": 12, "dtype": "float32"})
    yield vlm
    vlm.close()


@pytest.fixture(scope="session")
def flux2_klein_dir(tmp_path_factory):
    return build_tiny_flux2_klein(tmp_path_factory.mktemp("tiny-flux2-klein"))


@pytest.fixture(scope="session")
def flux_kontext_dir(tmp_path_factory):
    return build_tiny_flux_kontext(tmp_path_factory.mktemp("tiny-flux-kontext"))


@pytest.fixture(scope="session")
def pix2pix_dir(tmp_path_factory):
    return build_tiny_instruct_pix2pix(tmp_path_factory.mktemp("tiny-pix2pix"))


@pytest.fixture
def scene() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(40, 56, 3), dtype=np.uint8)


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve():
    """serve(generator=None, **options) -> a started GeneratorServer on a free port; all closed at the end."""
    servers = []

    def start(generator=None, name="echo", **options):
        generator = generator or EchoGenerator(EchoGeneratorConfig())
        server = GeneratorServer(generator, name, ServerOptions(port=0, **options)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()

"""Any agent inside the sim episode: every registered generator and critic, a VLM planner, a user's
`module:Class`; bad generators fail the step with the reason; the episode always completes."""
from __future__ import annotations

import json

import pytest

from interleave_robot.registry import CRITICS, GENERATORS
from interleave_robot.sim_envs.episode import EpisodeConfig

TINY_VLM = {"processor": "image-only", "max_new_tokens": 12, "dtype": "float32"}


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    pytest.importorskip("diffusers")
    from tests.core.backends.tiny_models import build_tiny_flux2_klein, build_tiny_vlm

    return {"vlm": build_tiny_vlm(tmp_path_factory.mktemp("vlm")),
            "flux2": build_tiny_flux2_klein(tmp_path_factory.mktemp("flux2"))}


@pytest.fixture(scope="module")
def http_server():
    from interleave_robot.backends.scripted import EchoGenerator, EchoGeneratorConfig
    from interleave_robot.generator_server import GeneratorServer, ServerOptions

    server = GeneratorServer(EchoGenerator(EchoGeneratorConfig()), "echo", ServerOptions(port=0)).start()
    yield server
    server.close()


def _generator_options(name, tiny_dirs, http_server) -> dict:
    from tests.core.backends.tiny_models import FLUX2_KLEIN_CALL_KWARGS

    return {"sim": {"fault_rate": 0.0}, "echo": {},
            "diffusers": {"model": str(tiny_dirs["flux2"]), "num_inference_steps": 1, "width": 128, "height": 128,
                          "dtype": "float32", "guidance_scale": 1.0,
                          "extra_call_kwargs": json.dumps(FLUX2_KLEIN_CALL_KWARGS)},
            "http": {"endpoints": [http_server.url]}}[name]


def _critic_options(name, tiny_dirs) -> dict:
    return {"perception": {}, "always": {},
            "vlm": {"vlm": "transformers", "vlm_options": {"model": str(tiny_dirs["vlm"]), **TINY_VLM}}}[name]


def _completes(result, config):
    """The episode ran to its end: a result naming its agents, and a reason whenever it failed."""
    assert (result.planner, result.generator, result.critic) == (config.planner, config.generator, config.critic_name)
    assert result.success or result.failure, result
    assert len(result.judge) == len(result.trajectory.steps)
    return result


@pytest.mark.parametrize("name", GENERATORS.names())
def test_every_registered_generator_runs_in_an_episode(runner, tiny_dirs, http_server, name):
    config = EpisodeConfig(family="stack", seed=3, steps=1, generator=name, critic="none", max_attempts_per_step=1,
                           generator_options=_generator_options(name, tiny_dirs, http_server))
    result = _completes(runner.run(config), config)
    assert result.generator_calls >= 1
    if name == "sim":
        assert result.success and result.judge[0]["right"] and result.judge[0]["ground_truth_right"]
    else:  # no ground truth; the judge still scores the image
        assert result.judge[0]["ground_truth_right"] is None and isinstance(result.judge[0]["right"], bool)
        if name == "echo":  # the echo generator returns the source (marked): the executor cannot follow it
            assert not result.success and "executor" in result.failure and not result.judge[0]["right"]


@pytest.mark.parametrize("name", CRITICS.names())
def test_every_registered_critic_runs_in_an_episode(runner, tiny_dirs, name):
    config = EpisodeConfig(family="line", seed=4, steps=1, critic=name, fault_rate=0.5, max_attempts_per_step=2,
                           critic_options=_critic_options(name, tiny_dirs))
    result = _completes(runner.run(config), config)
    attempts = result.trajectory.steps[0].attempts
    assert attempts and all(a.verdict is not None or a.error for a in attempts)
    if name == "vlm":  # an untrained tiny VLM never answers in format: recorded, the step is flagged
        assert all("critic" in a.error for a in attempts) and result.trajectory.steps[0].flagged


def test_vlm_planner_in_an_episode_fails_with_the_reason(runner, tiny_dirs):
    config = EpisodeConfig(family="stack", seed=1, steps=2, planner="vlm",
                           planner_options={"vlm": "transformers",
                                            "vlm_options": {"model": str(tiny_dirs["vlm"]), **TINY_VLM}})
    result = _completes(runner.run(config), config)
    assert not result.success and result.failure.startswith("planner: no answer in format")


def test_plan_the_sim_cannot_execute_fails_with_the_reason(runner):
    config = EpisodeConfig(family="stack", seed=2, steps=1, planner="static", critic="none",
                           planner_options={"steps": ["juggle the blue block"]}, max_replans=1)
    result = _completes(runner.run(config), config)
    assert not result.success and "re-plan budget (1) spent" in result.failure and result.replans == 1
    assert "executor" in result.failure


@pytest.mark.parametrize("generator, message", [
    ("tests.sim_envs.sim_backends:WrongSizeGenerator", "generator returned a 64x64 image, the camera frame is 128x128"),
    ("tests.sim_envs.sim_backends:RaisingGenerator", "RuntimeError: editor crashed"),
])
def test_broken_generators_fail_the_step_with_the_reason(runner, generator, message):
    config = EpisodeConfig(family="stack", seed=5, steps=2, generator=generator, critic="perception", loop="open")
    result = _completes(runner.run(config), config)
    step = result.trajectory.steps[0]
    assert all(message in a.error for a in step.attempts) and step.flagged and result.generator_errors == 6
    assert not result.success and "no image to follow" in result.failure and message in result.failure

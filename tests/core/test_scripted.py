"""The scripted backends, built through the registries as a user would (CLI strings)."""
import json

import numpy as np
import pytest

from interleave_robot import BackendError, ConfigError, OutputFormatError
from interleave_robot.registry import CRITICS, GENERATORS, PLANNERS
from interleave_robot.types import CritiqueRequest, GenerationRequest, Task


def test_static_planner_sources(tmp_path, observation):
    plan = PLANNERS.build("static", {"steps": "pick up red,place red on blue"}).plan(Task("t"), observation)
    assert [(s.step_number, s.instruction, s.prompt) for s in plan.steps] == [
        (1, "pick up red", "pick up red"), (2, "place red on blue", "place red on blue")]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"steps": [{"instruction": "a", "prompt": "an image of a"}]}))
    assert PLANNERS.build("static", {"plan_file": str(path)}).plan(Task("t"), observation).steps[0].prompt == \
        "an image of a"
    with pytest.raises(OutputFormatError):
        PLANNERS.build("static", {"answers": ["<answer>nope</answer>"]}).plan(Task("t"), observation)
    with pytest.raises(ConfigError, match="exactly one"):
        PLANNERS.build("static", {"steps": "a", "plan_file": str(path)})


def test_echo_generator(image):
    gen = GENERATORS.build("echo", {"fail_calls": "1", "size": "16"})
    first = gen.generate(GenerationRequest(prompt="p", seed=1, source_image=image))
    assert first.image.shape == image.shape and first.image is not image
    assert np.array_equal(first.image[3:], image[3:]) and not np.array_equal(first.image, image)
    with pytest.raises(BackendError, match="injected failure on call 1"):
        gen.generate(GenerationRequest(prompt="p", seed=1, source_image=image))
    text_to_image = gen.generate(GenerationRequest(prompt="p", seed=2, source_image=None))
    assert text_to_image.image.shape == (16, 16, 3) and text_to_image.metadata == {"call_index": 2, "seed": 2}
    other_seed = gen.generate(GenerationRequest(prompt="p", seed=3, source_image=image))
    assert not np.array_equal(other_seed.image[:3], first.image[:3])  # attempts differ visibly
    with pytest.raises(ConfigError, match="sleep_s"):
        GENERATORS.build("echo", {"sleep_s": "-1"})


def test_always_critic(image):
    request = CritiqueRequest(before_image=image, after_image=image, instruction="i", prompt="p")
    assert CRITICS.build("always", {}).critique(request).success
    rejecting = CRITICS.build("always", {"accept": "false"}).critique(request)
    assert not rejecting.success and rejecting.refine_prompt == "p [refined]"
    replay = CRITICS.build("always", {"answers": ["<answer>{'previous_step_success': True}</answer>"]})
    assert replay.critique(request).success
    with pytest.raises(ConfigError, match="reject_first"):
        CRITICS.build("always", {"reject_first": "-2"})

"""The perception critic against the real simulated generator: every fault type is caught,
right images are accepted, rejections carry the explicit prompt; bad inputs are typed errors."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from interleave_robot.errors import ConfigError  # noqa: E402
from interleave_robot.registry import CRITICS  # noqa: E402
from interleave_robot.types import CritiqueRequest, GenerationRequest  # noqa: E402
from interleave_robot.sim_envs.faults import FAULT_TYPES  # noqa: E402
from interleave_robot.sim_envs.language import describe_subgoal, natural_phrases, parse_instruction  # noqa: E402
from interleave_robot.sim_envs.perception_critic import PerceptionCritic, PerceptionCriticConfig  # noqa: E402
from interleave_robot.sim_envs.placement import apply_subgoal  # noqa: E402
from interleave_robot.sim_envs.scene import SceneSpec, SimSnapshot, camera_model, inventory_of  # noqa: E402
from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator  # noqa: E402
from interleave_robot.sim_envs.tasks import goal_of, sample_task  # noqa: E402

from .perception_scenes import with_artifact  # noqa: E402

# (family, seed): the last step of a tower, a sort (blocks share colours), a row and a
# pick-and-place task, with the earlier steps already done in the scene.
CASES = [("stack", 3), ("sort", 1), ("line", 2), ("pick_place", 4)]


def _generator(fault: str) -> SimulatedGenerator:
    """The generator forced to one fault type in its gross form, with editor realism on (the default)."""
    if fault == "none":
        return SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))
    weights = {name: float(name == fault) for name in FAULT_TYPES}
    return SimulatedGenerator(SimGeneratorConfig(fault_rate=1.0, fault_weights=weights, subtle_fraction=0.0))


@pytest.fixture(scope="module")
def steps():
    """For each case: the task, the before image, the scene snapshot before the step, the subgoal, camera."""
    renderer = SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))
    found = []
    for family, seed in CASES:
        task, state = sample_task(family, np.random.default_rng(seed))
        spec = SceneSpec.from_dict(task.spec["scene"])
        goal = goal_of(task.spec)
        index = len(goal) - 1
        for subgoal in goal[:index]:
            state = renderer.render_state(spec, apply_subgoal(spec, state, subgoal))[1]
        before, _ = renderer.render_state(spec, state, settle=False)
        camera = camera_model(renderer.model, renderer.data, spec.image_width, spec.image_height)
        found.append((task, spec, before, SimSnapshot(spec, state), goal[index], camera))
    renderer.close()
    return found


HINTS: dict[str, set] = {}  # fault -> refined-prompt endings seen (filled by the test below)


@pytest.mark.parametrize("fault", ("none",) + FAULT_TYPES)
def test_catches_each_fault_type_of_the_generator(steps, fault):
    generator = _generator(fault)
    critic = PerceptionCritic()
    seen = []
    hints = HINTS
    for task, spec, before, snapshot, subgoal, camera in steps:
        prompt = describe_subgoal(subgoal, spec)
        result = generator.generate(GenerationRequest(prompt=prompt, seed=7, source_image=before,
                                                      source_state=snapshot))
        truth = result.metadata["fault"]  # a fault that cannot apply falls back (recorded)
        instruction = natural_phrases(subgoal, spec)[0]
        verdict = critic.critique(CritiqueRequest(before, result.image, instruction, prompt, inventory=inventory_of(spec),
                                                  camera=camera))
        seen.append(truth)
        if truth == "none":
            assert verdict.success, (task.family, verdict.reason)
            assert verdict.refine_prompt == ""
            continue
        assert not verdict.success, (task.family, truth)
        assert verdict.reason.startswith(truth + ":"), (task.family, truth, verdict.reason)
        # The refined prompt is the explicit wording of the same subgoal, then a hint about this fault.
        assert verdict.refine_prompt.startswith(describe_subgoal(subgoal, spec))
        assert verdict.refine_prompt != describe_subgoal(subgoal, spec)
        assert parse_instruction(verdict.refine_prompt, spec).to_dict() == {**subgoal.to_dict(), "explicitness": 1.0}
        hints.setdefault(truth, set()).add(verdict.refine_prompt[len(describe_subgoal(subgoal, spec)):])
    generator.close()
    assert fault in seen  # the fault did apply in at least one scene


def test_refined_prompt_depends_on_the_fault():
    """Each fault type gets its own advice (the test above ran first and collected them)."""
    assert len(HINTS) >= 5, HINTS
    endings = [next(iter(v)) for v in HINTS.values()]
    assert len(set(endings)) == len(endings), HINTS


def test_off_palette_blotch_is_an_artifact(steps):
    task, spec, before, snapshot, subgoal, camera = steps[0]
    generator = _generator("none")
    prompt = describe_subgoal(subgoal, spec)
    right = generator.generate(GenerationRequest(prompt=prompt, seed=1, source_image=before,
                                                 source_state=snapshot)).image
    generator.close()
    patched = with_artifact(right, np.random.default_rng(0), "patch")
    verdict = PerceptionCritic().critique(CritiqueRequest(before, patched, prompt, prompt, inventory=inventory_of(spec), camera=camera))
    assert not verdict.success and verdict.reason.startswith("artifact:")
    assert "outside the scene's palette" in verdict.reason


def test_unparseable_instruction_is_a_rejection_with_reason(steps):
    task, spec, before, *_, camera = steps[0]
    verdict = PerceptionCritic().critique(CritiqueRequest(before, before, "make it nice", "do something",
                                                          inventory=inventory_of(spec), camera=camera))
    assert not verdict.success and verdict.reason.startswith("unparsed:")


def test_bad_inputs_are_typed_errors(steps):
    task, spec, before, *_, camera = steps[0]
    critic = PerceptionCritic()
    prompt = "Put the red block on the blue block."
    inventory = inventory_of(spec)
    with pytest.raises(ConfigError, match="camera"):
        critic.critique(CritiqueRequest(before, before, prompt, prompt, inventory=inventory, camera=None))
    with pytest.raises(ConfigError, match="inventory"):
        critic.critique(CritiqueRequest(before, before, prompt, prompt, camera=camera))
    with pytest.raises(ConfigError, match="differ in size"):
        critic.critique(CritiqueRequest(before, before[:64], prompt, prompt, inventory=inventory, camera=camera))
    with pytest.raises(ValueError, match="uint8"):
        critic.critique(CritiqueRequest(before.astype(np.float32), before, prompt, prompt, inventory=inventory,
                                        camera=camera))
    with pytest.raises(ConfigError, match="bleed_fraction"):
        PerceptionCriticConfig(bleed_fraction=0)
    with pytest.raises(ConfigError, match="stain_shift"):
        PerceptionCriticConfig(stain_shift=0)
    with pytest.raises(ConfigError, match="halo_share"):
        PerceptionCriticConfig(halo_share=-1)


def test_registered_as_perception():
    critic = CRITICS.build("perception", {"artifact_pixels": "12"})
    assert isinstance(critic, PerceptionCritic) and critic.config.artifact_pixels == 12


def test_neighbouring_pale_bins_do_not_shift_each_other():
    """Sort seed 7: the yellow bin's shaded edges have the orange bin's tint; the orange bin must
    still be located from its own region (this once rejected right images as wrong_place)."""
    import gymnasium as gym

    import interleave_robot.sim_envs  # noqa: F401  (registers the env ids)

    env = gym.make("InterleaveRobot/Sort-v0")
    _, info = env.reset(seed=7)
    observation = env.unwrapped.observation()
    env.close()
    task = info["task"]
    spec = SceneSpec.from_dict(task.spec["scene"])
    assert {b.color for b in spec.bins} >= {"orange", "yellow"}
    generator = _generator("none")
    critic = PerceptionCritic()
    image, state = observation.image, observation.state
    for subgoal in goal_of(task.spec):
        prompt = natural_phrases(subgoal, spec)[0]
        result = generator.generate(GenerationRequest(prompt=prompt, seed=0, source_image=image, source_state=state))
        verdict = critic.critique(CritiqueRequest(image, result.image, prompt, prompt,
                                                  inventory=observation.inventory, camera=observation.camera))
        assert verdict.success, verdict.reason
        image, state = result.image, result.state
    generator.close()

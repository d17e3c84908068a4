"""Perception that survives editor realism (issue 9 item 4), on seeds only the tests use
(6200-6203; the tuning used 5000-5009 and the benchmark reports 7000 onwards): correct images
further degraded by JPEG q75, blur, a 2 px shift, hue +-5 deg, brightness +-5% or noise are
accepted (false rejections <= 5%), gross faults are caught, the executor follows realistic
images. The full per-type table is benchmarks/bench_perception_accuracy.py."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import interleave_robot.sim_envs  # noqa: E402,F401  (registers the env ids)
from interleave_robot.sim_envs.executor import SubgoalExecutor  # noqa: E402
from interleave_robot.sim_envs.faults import FAULT_TYPES  # noqa: E402
from interleave_robot.sim_envs.language import describe_subgoal  # noqa: E402
from interleave_robot.sim_envs.perception import block_moved, register  # noqa: E402
from interleave_robot.sim_envs.perception_critic import PerceptionCritic  # noqa: E402
from interleave_robot.sim_envs.placement import apply_subgoal  # noqa: E402
from interleave_robot.sim_envs.realism import PERTURBATIONS, shift_image  # noqa: E402
from interleave_robot.sim_envs.registration import env_id  # noqa: E402
from interleave_robot.sim_envs.scene import SceneSpec, SimSnapshot, camera_model, inventory_of  # noqa: E402
from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig, SimulatedGenerator  # noqa: E402
from interleave_robot.sim_envs.tasks import FAMILIES, goal_of, sample_task  # noqa: E402
from interleave_robot.types import CritiqueRequest, GenerationRequest  # noqa: E402

SEEDS = {"stack": 6200, "sort": 6201, "line": 6202, "pick_place": 6203}


@pytest.fixture(scope="module")
def steps():
    """Every step of one task per family: (before camera frame, snapshot, subgoal, spec, camera)."""
    clean = SimulatedGenerator(SimGeneratorConfig(realism=0.0))
    found = []
    for family in FAMILIES:
        task, state = sample_task(family, np.random.default_rng(SEEDS[family]))
        spec = SceneSpec.from_dict(task.spec["scene"])
        for subgoal in goal_of(task.spec):
            before, _ = clean.render_state(spec, state, settle=False)
            camera = camera_model(clean.model, clean.data, spec.image_width, spec.image_height)
            found.append((before, SimSnapshot(spec, state), subgoal, spec, camera))
            state = clean.render_state(spec, apply_subgoal(spec, state, subgoal))[1]
    clean.close()
    return found


def _verdict(critic, before, image, subgoal, spec, camera):
    prompt = describe_subgoal(subgoal, spec)
    return critic.critique(CritiqueRequest(before, image, prompt, prompt, inventory=inventory_of(spec), camera=camera))


def test_correct_images_survive_further_degradation(steps):
    generator = SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))
    critic = PerceptionCritic()
    rejected, total, reasons = 0, 0, []
    for k, (before, snapshot, subgoal, spec, camera) in enumerate(steps):
        image = generator.generate(GenerationRequest(describe_subgoal(subgoal, spec), k, before, snapshot)).image
        for name, perturb in {"as generated": lambda im, s: im, **PERTURBATIONS}.items():
            verdict = _verdict(critic, before, perturb(image, k), subgoal, spec, camera)
            total += 1
            if not verdict.success:
                rejected += 1
                reasons.append((name, verdict.reason))
    generator.close()
    assert total >= 80
    assert rejected / total <= 0.05, reasons


@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_gross_faults_are_caught_with_realism(steps, fault):
    generator = SimulatedGenerator(SimGeneratorConfig(fault_rate=1.0, subtle_fraction=0.0,
                                                      fault_weights={t: float(t == fault) for t in FAULT_TYPES}))
    critic = PerceptionCritic()
    caught = named = 0
    for k, (before, snapshot, subgoal, spec, camera) in enumerate(steps):
        result = generator.generate(GenerationRequest(describe_subgoal(subgoal, spec), k, before, snapshot))
        verdict = _verdict(critic, before, result.image, subgoal, spec, camera)
        caught += not verdict.success
        named += verdict.reason.startswith(result.metadata["fault"] + ":")
    generator.close()
    assert caught / len(steps) >= 0.9, (fault, caught, len(steps))
    assert named / len(steps) >= 0.7, (fault, named, len(steps))


def test_subtle_bleed_is_caught_with_realism(steps):
    """A colour bled onto a neighbour (or around the moved block) is judged against the block's own
    far half and the before image, not exact pixels: most are caught, as artifacts first."""
    generator = SimulatedGenerator(SimGeneratorConfig(fault_rate=1.0, subtle_fraction=1.0,
                                                      fault_weights={t: float(t == "artifact") for t in FAULT_TYPES}))
    critic = PerceptionCritic()
    caught = named = total = 0
    for k, (before, snapshot, subgoal, spec, camera) in enumerate(steps):
        result = generator.generate(GenerationRequest(describe_subgoal(subgoal, spec), k, before, snapshot))
        assert result.metadata["detail"]["form"] == "bleed"
        verdict = _verdict(critic, before, result.image, subgoal, spec, camera)
        total += 1
        caught += not verdict.success
        named += verdict.reason.startswith("artifact:")
    generator.close()
    assert caught / total >= 0.7, (caught, total)
    assert named / total >= 0.5, (named, total)


def test_registration_recovers_the_misregistration(steps):
    before = steps[0][0]
    for dx, dy in ((0, 0), (2, -1), (-3, 3), (4, 0)):
        assert register(before, shift_image(before, dx, dy)) == (dx, dy)


def test_one_move_threshold_for_critic_and_executor():
    """A block pushed 2 px moved; the same block re-segmented with a ragged edge did not."""
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    assert block_moved(mask, np.roll(mask, 2, axis=1))
    ragged = mask.copy()
    ragged[10, 10:20:2] = False
    assert not block_moved(mask, ragged)
    assert not block_moved(mask, mask, exclude=np.ones_like(mask))


def test_executor_follows_realistic_images():
    generator = SimulatedGenerator(SimGeneratorConfig(fault_rate=0.0))
    executor = SubgoalExecutor()
    ok = total = 0
    for family in FAMILIES:
        env = gym.make(env_id(family))
        try:
            obs, info = env.reset(seed=SEEDS[family])
            for k, subgoal in enumerate(goal_of(info["task"].spec)):
                spec = env.unwrapped.scene_spec
                text = describe_subgoal(subgoal, spec)
                image = generator.generate(GenerationRequest(text, k, obs["rgb"], env.unwrapped.snapshot())).image
                image = list(PERTURBATIONS.values())[k % len(PERTURBATIONS)](image, k)
                result = executor.execute(env, image, text, obs, info)
                obs, info = result.obs, result.info
                total += 1
                ok += result.success
                if not result.success:
                    break
        finally:
            env.close()
    generator.close()
    assert ok / total >= 0.95, (ok, total)

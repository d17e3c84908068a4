"""Editor realism: every generated image carries an editor's whole-image effects, scaled by the
`realism` option (0: pixel-exact); subtle faults are real in physics; ground truth is untouched."""
import numpy as np
import pytest

from interleave_robot.errors import ConfigError
from interleave_robot.sim_envs.faults import FAULT_TYPES, SUBTLE_FORMS
from interleave_robot.sim_envs.language import describe_subgoal
from interleave_robot.sim_envs.placement import relation_holds
from interleave_robot.sim_envs.realism import EditorEffects, apply_effects, draw_effects, shift_image
from interleave_robot.sim_envs.scene import SceneSpec, SimSnapshot
from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig
from interleave_robot.sim_envs.tasks import goal_of
from interleave_robot.types import GenerationRequest

from .conftest import sample


@pytest.fixture(scope="module")
def scene(generator):
    task, state = sample("pick_place", 6100)
    spec = SceneSpec.from_dict(task.spec["scene"])
    image = generator.render_state(spec, state, settle=False)[0]
    return spec, state, goal_of(task.spec)[0], image


def _high_frequency(image: np.ndarray) -> float:
    g = image.astype(float).mean(axis=-1)
    return float(np.percentile(np.abs(np.diff(g, axis=1)), 99.5))  # the sharpest edges


def test_strength_zero_is_pixel_exact_and_strength_scales_every_effect(scene):
    *_, image = scene
    assert draw_effects(np.random.default_rng(0), 0.0) == EditorEffects()
    assert np.array_equal(apply_effects(image, draw_effects(np.random.default_rng(0), 0.0)), image)
    diffs = {}
    for s in (0.5, 1.0, 2.0):
        effects = [draw_effects(np.random.default_rng(k), s) for k in range(40)]
        assert max(max(map(abs, e.shift)) for e in effects) == round(2 * s)  # misregistration up to 2s px
        assert all(0 < e.blur_sigma <= 0.6 * s and 0 < e.noise_sigma <= 2 * s for e in effects)
        assert all(abs(e.brightness - 1) <= 0.04 * s and e.jpeg_quality == round(100 - 15 * s) for e in effects)
        # Measured on images (shift undone, so what is left is blur, colour, noise and JPEG).
        diffs[s] = np.mean([np.abs(shift_image(apply_effects(image, e), -e.shift[0], -e.shift[1]).astype(int)
                                   - image)[4:-4, 4:-4].mean() for e in effects[:8]])
    assert 0 < diffs[0.5] < diffs[1.0] < diffs[2.0], diffs
    with pytest.raises(ValueError, match="realism strength"):
        draw_effects(np.random.default_rng(0), -1)


def test_each_degradation_is_present_as_recorded(scene):
    *_, image = scene
    base = EditorEffects(seed=3)
    shifted = apply_effects(image, EditorEffects(shift=(2, -1), seed=3))
    assert np.array_equal(shifted[:-1, 2:], image[1:, :-2])
    assert _high_frequency(apply_effects(image, EditorEffects(blur_sigma=0.8, seed=3))) < 0.8 * _high_frequency(image)
    bright = apply_effects(image, EditorEffects(brightness=1.04, seed=3)).astype(float)
    unsat = (image.max(axis=-1) < 200)  # away from clipping
    assert bright[unsat].sum() / image[unsat].astype(float).sum() == pytest.approx(1.04, abs=0.005)
    gain = apply_effects(image, EditorEffects(channel_gain=(1.03, 1.0, 0.97), seed=3)).astype(float)
    ratios = gain[unsat].sum(axis=0) / image[unsat].astype(float).sum(axis=0)
    assert ratios == pytest.approx([1.03, 1.0, 0.97], abs=0.005)
    noisy = apply_effects(image, EditorEffects(noise_sigma=2.0, seed=3)).astype(float) - image
    assert np.std(noisy[unsat]) == pytest.approx(2.0, rel=0.15)
    texture = apply_effects(image, EditorEffects(texture_amplitude=3.0, seed=3)).astype(float) - image
    assert np.std(texture[unsat]) == pytest.approx(3.0, rel=0.2)
    jpeg = apply_effects(image, EditorEffects(jpeg_quality=85, seed=3))
    assert 0 < np.abs(jpeg.astype(int) - image).mean() < 4
    assert np.array_equal(apply_effects(image, base), image)


def test_every_generated_image_carries_the_effects_and_ground_truth_is_exact(generator, scene):
    spec, state, subgoal, image = scene
    prompt = describe_subgoal(subgoal, spec)
    for fault_rate in (0.0, 1.0):
        out = {}
        for realism in (0.0, 1.0):
            generator.config = SimGeneratorConfig(fault_rate=fault_rate, realism=realism)
            out[realism] = generator.generate(GenerationRequest(prompt, 11, image, SimSnapshot(spec, state)))
        exact, real = out[0.0], out[1.0]
        # The same fault and the same physics; only the pixels differ, as the effects say.
        assert exact.metadata["fault"] == real.metadata["fault"]
        assert exact.metadata["snapshot"] == real.metadata["snapshot"]
        assert exact.metadata["realism"] == EditorEffects().to_dict()
        effects = EditorEffects(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in real.metadata["realism"].items()})
        assert effects.jpeg_quality == 85
        if real.metadata["fault"] != "artifact":
            assert np.array_equal(apply_effects(exact.image, effects), real.image)
    with pytest.raises(ConfigError, match="realism"):
        SimGeneratorConfig(realism=-0.5)


def test_fault_rates_keep_their_meaning_with_realism(generator, scene):
    spec, state, subgoal, image = scene
    prompt = describe_subgoal(subgoal, spec)
    generator.config = SimGeneratorConfig(fault_rate=0.3, realism=1.0, subtle_fraction=0.5)
    faults = [generator.generate(GenerationRequest(prompt, s, image, SimSnapshot(spec, state))).metadata["fault"]
              for s in range(150)]
    assert abs(np.mean([f != "none" for f in faults]) - 0.3) < 0.11


@pytest.mark.parametrize("fault", sorted(SUBTLE_FORMS))
def test_subtle_forms_are_real_faults_in_physics(generator, fault):
    forms = set()
    for seed in (6000, 6001, 6002, 6003):
        task, state = sample("stack", seed)
        spec = SceneSpec.from_dict(task.spec["scene"])
        subgoal = goal_of(task.spec)[0]
        generator.config = SimGeneratorConfig(fault_rate=1.0, fault_weights={t: float(t == fault) for t in FAULT_TYPES},
                                              subtle_fraction=1.0, realism=1.0)
        for s in range(3):
            out = generator.generate(GenerationRequest(describe_subgoal(subgoal, spec), s, None,
                                                       SimSnapshot(spec, state)))
            meta, settled = out.metadata, out.state.state
            assert meta["fault"] == fault
            forms.add(meta["detail"]["form"])
            if fault == "wrong_place":
                assert not relation_holds(spec, settled, subgoal)
                d = np.subtract(settled.positions[subgoal.obj][:2], meta["intended_state"]["positions"][subgoal.obj][:2])
                if meta["detail"]["form"] == "short":
                    assert 0.01 < np.hypot(*d) < 0.09  # a few cm short
            elif fault == "collateral":
                other = meta["detail"]["collateral_object"]
                moved = np.hypot(*np.subtract(settled.positions[other][:2], state.positions[other][:2]))
                if meta["detail"]["form"] == "nudge":
                    assert 0.007 <= moved <= 0.025, moved
            else:
                assert relation_holds(spec, settled, subgoal)
    assert set(SUBTLE_FORMS[fault]) <= forms, forms

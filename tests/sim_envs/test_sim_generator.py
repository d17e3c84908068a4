"""The simulated generator: correct edits, the fault model's rates and law, ground truth, determinism."""
import numpy as np
import pytest

from interleave_robot.errors import BackendError, ConfigError
from interleave_robot.sim_envs.faults import FAULT_TYPES, effective_fault_rate
from interleave_robot.sim_envs.language import describe_subgoal, natural_phrases, parse_instruction
from interleave_robot.sim_envs.placement import relation_holds
from interleave_robot.sim_envs.scene import SceneSpec, SceneState, SimSnapshot
from interleave_robot.sim_envs.sim_generator import SimGeneratorConfig
from interleave_robot.sim_envs.tasks import goal_of
from interleave_robot.types import GenerationRequest

from .conftest import sample


def _source(family="pick_place", seed=0, **options):
    task, state = sample(family, seed, **options)
    spec = SceneSpec.from_dict(task.spec["scene"])
    return task, SimSnapshot(spec, state), goal_of(task.spec)[0]


def _gen(generator, prompt, snapshot, seed=0, **config):
    generator.config = SimGeneratorConfig(**config)
    return generator.generate(GenerationRequest(prompt=prompt, seed=seed, source_state=snapshot))


def test_fault_free_generation_satisfies_the_subgoal(generator):
    for family in ("stack", "sort", "line", "pick_place"):
        task, snap, goal = _source(family, 2)
        out = _gen(generator, describe_subgoal(goal, snap.spec), snap, fault_rate=0.0)
        assert out.metadata["fault"] == "none"
        assert relation_holds(snap.spec, out.state.state, goal)  # settled physics state
        assert out.image.shape == (128, 128, 3) and out.metadata["snapshot"] == out.state.to_dict()
        before, _ = generator.render_state(snap.spec, snap.state)
        assert np.abs(out.image.astype(int) - before).sum() > 0


def test_observed_fault_rates_match_the_configured_ones(generator):
    task, snap, goal = _source("stack", 1, steps=3)
    prompt = describe_subgoal(goal, snap.spec)  # explicitness 1: effective rate == fault_rate
    faults = [_gen(generator, prompt, snap, seed=s, fault_rate=0.3).metadata["fault"] for s in range(300)]
    rate = np.mean([f != "none" for f in faults])
    assert abs(rate - 0.3) < 0.08, rate  # ~3 standard errors at n=300
    counts = {t: faults.count(t) for t in FAULT_TYPES}
    assert all(c >= 5 for c in counts.values()), counts  # every type occurs, roughly equally


def test_vague_prompts_fail_more_often_than_explicit_ones(generator):
    task, snap, goal = _source("stack", 4, steps=2)
    vague = natural_phrases(goal, snap.spec)[1]  # "Stack red on blue."
    e = parse_instruction(vague, snap.spec).explicitness
    assert e <= 0.6
    explicit = describe_subgoal(goal, snap.spec)
    rate = {p: np.mean([_gen(generator, p, snap, seed=s, fault_rate=0.3).metadata["fault"] != "none"
                        for s in range(200)]) for p in (vague, explicit)}
    assert rate[vague] > rate[explicit] + 0.05, rate
    assert effective_fault_rate(0.3, e, 1.0) == pytest.approx(0.3 * (2 - e))
    assert abs(rate[vague] - 0.3 * (2 - e)) < 0.1


@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_each_fault_type_is_recorded_and_visible(generator, fault):
    task, snap, goal = _source("stack", 7, steps=3)
    prompt = describe_subgoal(goal, snap.spec)
    good = _gen(generator, prompt, snap, fault_rate=0.0, realism=0.0)
    out = _gen(generator, prompt, snap, fault_rate=1.0, fault_weights={fault: 1.0}, realism=0.0, subtle_fraction=0.0)
    meta = out.metadata
    assert meta["fault"] == fault and meta["subgoal"]["obj"] == goal.obj and meta["detail"]["form"] == "gross"
    assert np.abs(out.image.astype(int) - good.image).max() > 60  # the fault shows in the image
    state = out.state.state
    moved = {n for n in snap.state.positions
             if np.linalg.norm(np.subtract(state.positions[n], snap.state.positions[n])) > 0.01}
    if fault == "no_op":
        assert moved == set()
    elif fault == "wrong_object":
        assert moved == {meta["detail"]["moved_instead"]} and goal.obj not in moved
    elif fault == "wrong_place":
        assert moved == {goal.obj} and not relation_holds(snap.spec, state, goal)
    elif fault == "collateral":
        assert moved == {goal.obj, meta["detail"]["collateral_object"]}
    else:  # artifact, duplicate: the right physical change, the image is what is wrong
        assert relation_holds(snap.spec, state, goal) and moved == {goal.obj}
    SceneState.from_dict(meta["snapshot"]["state"])  # ground truth is JSON, rebuildable


def test_unparseable_prompt_returns_the_source_image(generator):
    task, snap, goal = _source("line", 0)
    source = generator.render_state(snap.spec, snap.state, settle=False)[0]
    for realism in (0.0, 1.0):
        generator.config = SimGeneratorConfig(realism=realism)
        out = generator.generate(GenerationRequest(prompt="make it look nicer", seed=1, source_image=source,
                                                   source_state=snap))
        assert out.metadata["fault"] == "unparsed" and "no object" in out.metadata["reason"]
        assert out.state.state.positions == snap.state.positions
        diff = np.abs(out.image.astype(int) - source).mean()
        # Pixel-exact without realism; re-encoded (still the source image) with it.
        assert diff == 0 if realism == 0 else 0 < diff < 12, (realism, diff)


def test_deterministic_given_seed_and_prompt(generator):
    task, snap, goal = _source("pick_place", 3)
    prompt = natural_phrases(goal, snap.spec)[0]
    a, b = (_gen(generator, prompt, snap, seed=5, fault_rate=0.5) for _ in range(2))
    assert a.metadata == b.metadata and np.array_equal(a.image, b.image)


def test_bad_config_and_missing_state():
    with pytest.raises(ConfigError, match="fault_rate"):
        SimGeneratorConfig(fault_rate=1.5)
    with pytest.raises(ConfigError, match="unknown fault type"):
        SimGeneratorConfig(fault_weights={"melt": 1.0})


def test_needs_a_sim_snapshot(generator):
    with pytest.raises(BackendError, match="SimSnapshot"):
        generator.generate(GenerationRequest(prompt="put red on blue", seed=0, source_image=np.zeros((8, 8, 3), np.uint8)))

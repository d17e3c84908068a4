"""SimulatedGenerator: an "image editor" that edits by simulation (registered as generator "sim").

generate(request): parse request.prompt against the scene of request.source_state
(a SimSnapshot), set the subgoal state in a copy of the scene, let physics settle, render the
front camera. The fault model (faults.py) then makes it fail the way real editors do, at
configurable rates that rise for vague prompts. An unparseable prompt gives the source image
back with fault "unparsed", as an editor that ignores an instruction would.

Every image, right or wrong, then gets an editor's whole-image effects (realism.py: shift,
blur, colour and brightness shifts, texture and noise, JPEG), scaled by `realism` (0 = the
pixel-exact re-render); faults have subtle forms besides the gross ones (faults.py).

Every result records its ground truth in metadata (JSON): fault, subgoal, explicitness,
effective_fault_rate, snapshot (SimSnapshot.to_dict() of the image: physics, untouched by the
effects), intended_state, detail (with the fault's "form"), realism (the effects applied).
Deterministic given (request.seed, request.prompt, source state).
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

import numpy as np

from interleave_robot.agents import Generator
from interleave_robot.errors import BackendError, ConfigError
from interleave_robot.types import GenerationRequest, GenerationResult

from interleave_robot.sim_envs.faults import FAULT_TYPES, GROSS, UNPARSED, add_artifacts, apply_fault, bleed_colour, draw_fault, \
    draw_form, effective_fault_rate
from interleave_robot.sim_envs.language import PromptParseError, parse_instruction
from interleave_robot.sim_envs.placement import apply_subgoal, relation_holds
from interleave_robot.sim_envs.realism import MAX_STRENGTH, apply_effects, draw_effects
from interleave_robot.sim_envs.env_cache import SceneSim, cached_scene
from interleave_robot.sim_envs.rendering import import_mujoco
from interleave_robot.sim_envs.scene import SceneSpec, SceneState, SimSnapshot
from interleave_robot.sim_envs.vision import segment


@dataclass
class SimGeneratorConfig:
    """fault_rate: fault probability for a fully explicit prompt (see faults.py for the law)."""

    fault_rate: float = 0.3
    vagueness_gain: float = 1.0
    fault_weights: dict = field(default_factory=lambda: {name: 1.0 for name in FAULT_TYPES})
    settle_steps: int = 150  # 0.3 s of physics so stacked blocks come to rest
    realism: float = 1.0  # editor effects on every image (realism.py); 0 = the pixel-exact re-render
    subtle_fraction: float = 0.5  # share of wrong_place/collateral/artifact faults drawn in a subtle form

    def __post_init__(self):
        if not 0.0 <= self.realism <= MAX_STRENGTH:
            raise ConfigError(f"SimGeneratorConfig.realism must be in [0, {MAX_STRENGTH}], got {self.realism}")
        if not 0.0 <= self.subtle_fraction <= 1.0:
            raise ConfigError(f"SimGeneratorConfig.subtle_fraction must be in [0, 1], got {self.subtle_fraction}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ConfigError(f"SimGeneratorConfig.fault_rate must be in [0, 1], got {self.fault_rate}")
        if self.vagueness_gain < 0:
            raise ConfigError(f"SimGeneratorConfig.vagueness_gain must be >= 0, got {self.vagueness_gain}")
        unknown = sorted(set(self.fault_weights) - set(FAULT_TYPES))
        if unknown:
            raise ConfigError(f"SimGeneratorConfig.fault_weights: unknown fault type(s) {unknown}; "
                              f"known: {', '.join(FAULT_TYPES)}")
        if any(float(v) < 0 for v in self.fault_weights.values()) or sum(map(float, self.fault_weights.values())) <= 0:
            raise ConfigError(f"SimGeneratorConfig.fault_weights must be >= 0 with a positive sum, "
                              f"got {self.fault_weights}")
        if not 0 <= self.settle_steps <= 5000:
            raise ConfigError(f"SimGeneratorConfig.settle_steps must be in 0..5000, got {self.settle_steps}")


class SimulatedGenerator(Generator):
    """Prompt -> subgoal image by simulation, with a fault model (sim only; needs source_state)."""

    config_class = SimGeneratorConfig
    needs_source_state = True  # serve-generator refuses it at start-up

    def __init__(self, config: SimGeneratorConfig | None = None):
        self.config = config or SimGeneratorConfig()
        import_mujoco()
        self._scene: SceneSim | None = None

    @property
    def model(self):
        """The MuJoCo model of the scene rendered last (None before the first render)."""
        return None if self._scene is None else self._scene.model

    @property
    def data(self):
        """... and its MjData, as the last render left it."""
        return None if self._scene is None else self._scene.data

    def render_state(self, spec: SceneSpec, state: SceneState, settle: bool = True,
                     duplicate: tuple[str, list[float]] | None = None) -> tuple[np.ndarray, SceneState]:
        """Set `state` (gripper parked), optionally settle, render: (image, settled state).
        The scene simulator is the process's (env_cache.cached_scene: shared with the judge,
        renders remembered); the result depends on the arguments only."""
        self._scene = cached_scene(spec)
        steps = self.config.settle_steps if settle else 0
        return self._scene.render(state, steps, duplicate)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        source = request.source_state
        if not isinstance(source, SimSnapshot):
            raise BackendError("the simulated generator needs request.source_state to be a SimSnapshot "
                               "(it edits simulated scenes only)")
        spec = source.spec
        key = [int(request.seed) & 0xFFFFFFFF, zlib.crc32(request.prompt.encode("utf-8"))]
        rng = np.random.default_rng(key)
        # Separate streams: the subtle forms and the editor effects leave the fault draws as they were.
        form_rng, effects_rng = np.random.default_rng(key + [1]), np.random.default_rng(key + [2])
        effects = draw_effects(effects_rng, self.config.realism)
        meta = {"prompt": request.prompt, "seed": int(request.seed), "realism": effects.to_dict()}
        try:
            subgoal = parse_instruction(request.prompt, spec)
        except PromptParseError as exc:
            image = request.source_image if request.source_image is not None else self.render_state(
                spec, source.state, settle=False)[0]
            meta.update(fault=UNPARSED, reason=str(exc), subgoal=None, explicitness=0.0,
                        effective_fault_rate=None, snapshot=source.to_dict(), intended_state=None)
            return GenerationResult(image=apply_effects(image, effects), state=source.copy(), metadata=meta)
        rate = effective_fault_rate(self.config.fault_rate, subgoal.explicitness, self.config.vagueness_gain)
        fault = draw_fault(rng, rate, self.config.fault_weights)
        form = draw_form(form_rng, fault, self.config.subtle_fraction)
        fault, state, detail = apply_fault(fault, spec, source.state, subgoal, rng, form)
        image, settled = self._render_fault(spec, fault, state, detail)
        if detail["form"] != GROSS and not _subtle_fault_is_real(spec, source.state, settled, subgoal, fault, detail):
            # Physics undid the subtle fault (a nudged block slid back...): draw the gross form instead.
            fault, state, detail = apply_fault(fault, spec, source.state, subgoal, rng, GROSS)
            detail["subtle_undone"] = form
            image, settled = self._render_fault(spec, fault, state, detail)
        if fault == "artifact":
            image = add_artifacts(image, rng) if detail["form"] == GROSS else self._bleed(image, spec, subgoal, rng)
        image = apply_effects(image, effects)
        snapshot = SimSnapshot(spec, settled)
        meta.update(fault=fault, subgoal=subgoal.to_dict(), explicitness=subgoal.explicitness,
                    effective_fault_rate=rate, snapshot=snapshot.to_dict(),
                    intended_state=apply_subgoal(spec, source.state, subgoal).to_dict(),
                    detail=json.loads(json.dumps(detail)))
        return GenerationResult(image=image, state=snapshot, metadata=meta)

    def _render_fault(self, spec: SceneSpec, fault: str, state: SceneState, detail: dict):
        duplicate = (detail["duplicate_of"], detail["duplicate_at"]) if fault == "duplicate" else None
        return self.render_state(spec, state, duplicate=duplicate)

    @staticmethod
    def _bleed(image: np.ndarray, spec: SceneSpec, subgoal, rng: np.random.Generator) -> np.ndarray:
        blocks = segment(image).blocks
        color = spec.get(subgoal.obj).color
        neighbours = [blocks[c] for c in sorted({b.color for b in spec.blocks}) if c != color]
        return bleed_colour(image, blocks[color], neighbours, rng)

    def close(self) -> None:
        """Forget the scene; its simulator (and GL context) belongs to the process's cache
        (env_cache.py), closed by `close_cached_envs()` or at exit."""
        self._scene = None


def _subtle_fault_is_real(spec: SceneSpec, source: SceneState, settled: SceneState, subgoal, fault: str,
                          detail: dict) -> bool:
    """Whether a subtle fault survived settling: the relation still fails (wrong_place), the
    bystander still sits >= 7 mm or >= 12 degrees away from where it was (collateral)."""
    if fault == "wrong_place":
        return not relation_holds(spec, settled, subgoal)
    if fault == "collateral":
        name = detail["collateral_object"]
        moved = np.hypot(*(np.asarray(settled.positions[name][:2]) - np.asarray(source.positions[name][:2])))
        dot = abs(float(np.dot(settled.quaternions[name], source.quaternions[name])))
        turned = 2 * np.degrees(np.arccos(min(1.0, dot)))
        return bool(moved >= 0.007 or turned >= 12.0)
    return True

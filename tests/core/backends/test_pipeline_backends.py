"""The guidance loop over the real backends: VLM planner/critic (OpenAI-compatible HTTP and transformers),
diffusers generator, HTTP generator against the real server."""
from __future__ import annotations

import json

import pytest

from interleave_robot.backends.vlm_agents import VLMCritic, VLMCriticConfig, VLMPlanner, VLMPlannerConfig
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.registry import CRITICS, GENERATORS, PLANNERS
from interleave_robot.types import Observation

from .fake_openai import FakeOpenAIServer, Reply
from .test_vlm_agents import ACCEPT_ANSWER, PLAN_ANSWER, REJECT_ANSWER
from .tiny_models import FLUX2_KLEIN_CALL_KWARGS


def test_loop_with_http_vlms_and_http_generator(serve, scene):
    """Planner and critic over /v1/chat/completions, generator over POST /edit: the critic's refined prompt
    reaches the generator server on the retry."""
    planner_server = FakeOpenAIServer(replies=[Reply(content=PLAN_ANSWER)])
    critic_server = FakeOpenAIServer(replies=[Reply(content=REJECT_ANSWER), Reply(content=ACCEPT_ANSWER)])
    generator_server = serve()
    try:
        planner = PLANNERS.build("vlm", {"vlm": "openai", "model": "p",
                                         "vlm_options": {"base_url": planner_server.base_url}})
        critic = CRITICS.build("vlm", {"vlm": "openai", "model": "c",
                                       "vlm_options": {"base_url": critic_server.base_url}})
        generator = GENERATORS.build("http", {"endpoints": generator_server.url})
        trajectory = GuidancePipeline(planner, generator, critic, PipelineConfig(seed=4)).run(
            "stack red on blue, then green on red", Observation(scene))
        assert trajectory.error is None and trajectory.finished
        assert [len(s.attempts) for s in trajectory.steps] == [2, 1]
        first, second = trajectory.steps[0].attempts
        assert first.verdict.success is False and second.verdict.success is True
        assert second.prompt == "lift the red cube and set it on top of the blue cube"
        assert not any(s.flagged for s in trajectory.steps)
        assert generator_server.generator.calls == 3
        critic_prompts = [r["body"]["messages"][-1]["content"][-1]["text"] for r in critic_server.requests]
        assert "lift the red cube" in critic_prompts[1]
    finally:
        planner_server.close()
        critic_server.close()


def test_loop_with_tiny_vlm_planner_reports_format_failure(tiny_vlm, scene):
    """An untrained tiny VLM never answers in format: the run ends with the reason, no crash."""
    planner = VLMPlanner(VLMPlannerConfig(), vlm=tiny_vlm)
    critic = VLMCritic(VLMCriticConfig(), vlm=tiny_vlm)
    generator = GENERATORS.build("echo", {})
    trajectory = GuidancePipeline(planner, generator, critic, PipelineConfig(max_format_retries=0)).run(
        "stack", Observation(scene))
    assert trajectory.plan is None and "no answer in format after 1 tries" in trajectory.error


def test_loop_with_tiny_vlm_critic_flags_steps(tiny_vlm, flux2_klein_dir, scene):
    """Static plan, tiny diffusers generator, tiny VLM critic: critic failures are recorded, steps flagged."""
    planner = PLANNERS.build("static", {"steps": ["put the red block on the blue block"]})
    generator = GENERATORS.build("diffusers", {
        "model": str(flux2_klein_dir), "num_inference_steps": 1, "width": 64, "height": 64, "dtype": "float32",
        "guidance_scale": 1.0, "extra_call_kwargs": json.dumps(FLUX2_KLEIN_CALL_KWARGS)})
    critic = VLMCritic(VLMCriticConfig(), vlm=tiny_vlm)
    trajectory = GuidancePipeline(planner, generator, critic,
                                  PipelineConfig(max_attempts_per_step=2, max_format_retries=0)).run(
        "stack", Observation(scene))
    (step,) = trajectory.steps
    assert len(step.attempts) == 2 and step.flagged
    assert all(a.image is not None and a.image.shape == (64, 64, 3) for a in step.attempts)
    assert all(a.error and "critic" in a.error for a in step.attempts)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_loop_with_fine_tuned_tiny_vlm(tiny_vlm_dir, scene, tmp_path):
    """A tiny Qwen2-VL fine-tuned (a few hundred steps at most) to answer in the released format drives the
    loop as planner and critic through TransformersVLM. The echo generator (no mark) keeps the critic's
    "after" image equal to the trained one. Slow: minutes on a busy 2-core CPU."""
    import torch

    from interleave_robot.backends.vlm_base import ChatMessage
    from interleave_robot.registry import VLM_BACKENDS

    plan = "<answer>[{'instruction': 'red on blue', 'prompt': 'red on blue'}]</answer>"
    verdict = "<answer>{'previous_step_success': True}</answer>"
    (tmp_path / "p.txt").write_text("Plan: $task")
    (tmp_path / "c.txt").write_text("Check: $instruction")
    vlm = VLM_BACKENDS.build("transformers", {"model": str(tiny_vlm_dir), "processor": "image-only",
                                              "max_new_tokens": 48, "dtype": "float32"})
    image = scene[:32, :32].copy()
    examples = [([ChatMessage("user", [image, "Plan: stack"])], plan),
                ([ChatMessage("user", [image, image, "Check: red on blue"])], verdict)]
    batches = []
    for messages, answer in examples:
        inputs = vlm._render(messages)
        target = vlm.processor.tokenizer(answer + "<|im_end|>", return_tensors="pt")["input_ids"]
        ids = torch.cat([inputs["input_ids"], target], 1)
        labels = ids.clone()
        labels[:, :inputs["input_ids"].shape[1]] = -100
        batches.append(dict(inputs, input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels,
                            mm_token_type_ids=torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(target)], 1)))
    model = vlm.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for _ in range(400):
        loss = sum(model(**batch).loss for batch in batches)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.01:
            break
    model.eval()
    planner = VLMPlanner(VLMPlannerConfig(template=str(tmp_path / "p.txt")), vlm=vlm)
    critic = VLMCritic(VLMCriticConfig(template=str(tmp_path / "c.txt")), vlm=vlm)
    generator = GENERATORS.build("echo", {"draw": False})
    trajectory = GuidancePipeline(planner, generator, critic).run("stack", Observation(image))
    assert trajectory.error is None, trajectory.error
    (step,) = trajectory.steps
    assert step.step.prompt == "red on blue"
    assert step.attempts[0].verdict is not None, step.attempts[0].error
    assert step.attempts[0].verdict.success and not step.flagged

"""VLMPlanner / VLMCritic: templates, parsing, bounded format retries, over scripted and real VLM backends."""
from __future__ import annotations

import numpy as np
import pytest

from interleave_robot.backends.vlm_agents import (VLMCritic, VLMCriticConfig, VLMPlanner, VLMPlannerConfig,
                                                  load_template)
from interleave_robot.backends.vlm_base import ChatMessage, VLMChat
from interleave_robot.errors import ConfigError, OutputFormatError
from interleave_robot.registry import CRITICS, PLANNERS
from interleave_robot.types import CritiqueRequest, Observation, PlanStep, Task

from .fake_openai import FakeOpenAIServer, Reply

PLAN_ANSWER = ("<think>Two moves.</think><answer>[{'step_number': 1, 'step_name': 'red on blue', "
               "'instruction': 'Put the red block on the blue block', 'prompt': 'move the red cube onto the blue "
               "cube', 'auxiliary_text': None}, {'step_number': 2, 'step_name': 'green on red', 'instruction': "
               "'Put the green block on the red block', 'prompt': 'move the green cube onto the red cube', "
               "'auxiliary_text': ''}]</answer>")
REJECT_ANSWER = ('<think>The red cube is beside the blue one.</think><answer>{"previous_step_success": false, '
                 '"refine_prompt": "lift the red cube and set it on top of the blue cube"}</answer>')
ACCEPT_ANSWER = "<think>Done.</think><answer>{'previous_step_success': True, 'refine_prompt': ''}</answer>"


class ScriptedVLM(VLMChat):
    """Answers from a list (the last repeated) and records every conversation it was sent."""

    config_class = object

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.conversations: list[list[ChatMessage]] = []

    def chat(self, messages):
        self.conversations.append(list(messages))
        return self.answers[min(len(self.conversations) - 1, len(self.answers) - 1)]


def critique_request(scene, step_prompt="move the red cube onto the blue cube"):
    return CritiqueRequest(before_image=scene, after_image=scene[::-1].copy(),
                           instruction="Put the red block on the blue block", prompt=step_prompt,
                           step=PlanStep(1, "red on blue", "Put the red block on the blue block", step_prompt),
                           task_text="stack red on blue, then green on red")


def test_planner_renders_template_and_parses(scene):
    vlm = ScriptedVLM(PLAN_ANSWER)
    planner = VLMPlanner(VLMPlannerConfig(max_steps=4), vlm=vlm)
    plan = planner.plan(Task("stack red on blue, then green on red"), Observation(scene))
    assert [s.step_name for s in plan.steps] == ["red on blue", "green on red"]
    assert plan.steps[0].prompt == "move the red cube onto the blue cube" and plan.raw_text == PLAN_ANSWER
    (conversation,) = vlm.conversations
    (message,) = conversation
    assert message.role == "user" and len(message.images) == 1
    np.testing.assert_array_equal(message.images[0], scene)
    assert "Task: stack red on blue, then green on red" in message.text and "at most 4 steps" in message.text
    assert "<answer>" in message.text and "step_number" in message.text and "$" not in message.text


def test_critic_sends_before_and_after(scene):
    vlm = ScriptedVLM(REJECT_ANSWER)
    critic = VLMCritic(VLMCriticConfig(system_prompt="You are strict."), vlm=vlm)
    verdict = critic.critique(critique_request(scene))
    assert verdict.success is False
    assert verdict.refine_prompt == "lift the red cube and set it on top of the blue cube"
    system, user = vlm.conversations[0]
    assert system.role == "system" and system.text == "You are strict."
    assert len(user.images) == 2
    np.testing.assert_array_equal(user.images[1], scene[::-1])
    for text in ("Step instruction: Put the red block on the blue block",
                 "Prompt given to the editor: move the red cube onto the blue cube", "previous_step_success",
                 "refine_prompt"):
        assert text in user.text


def test_asked_again_after_a_malformed_answer_the_model_sees_it_and_the_reason(scene):
    vlm = ScriptedVLM("I think it worked!", ACCEPT_ANSWER)
    critic = VLMCritic(VLMCriticConfig(), vlm=vlm)
    with pytest.raises(OutputFormatError):  # one question, one answer: the agent itself never retries
        critic.critique(critique_request(scene))
    assert len(vlm.conversations) == 1
    verdict = critic.critique(critique_request(scene))  # the pipeline's retry
    assert verdict.success is True
    retry = vlm.conversations[1]
    assert [m.role for m in retry] == ["user", "assistant", "user"]
    assert retry[1].text == "I think it worked!"
    assert "did not follow the required format" in retry[2].text
    critic.critique(critique_request(scene))  # after a good answer, a plain question again
    assert [m.role for m in vlm.conversations[2]] == ["user"]


def test_a_different_question_after_a_bad_answer_starts_clean(scene):
    vlm = ScriptedVLM("garbage", ACCEPT_ANSWER)
    critic = VLMCritic(VLMCriticConfig(), vlm=vlm)
    with pytest.raises(OutputFormatError):
        critic.critique(critique_request(scene))
    critic.critique(critique_request(scene, "another prompt"))
    assert [m.role for m in vlm.conversations[1]] == ["user"]


@pytest.mark.parametrize("bad", ["", "<answer>{'previous_step_success': 'yes'}</answer>",
                                 "<think>never closed", '<answer>{"refine_prompt": "x"}</answer>',
                                 "<answer>" + "[" * 50_000 + "</answer>"])
def test_format_retries_live_in_the_pipeline_only(scene, bad):
    """Up to 1 + max_format_retries VLM calls per critique: never the agent's retries times the pipeline's."""
    from interleave_robot.backends.scripted import (EchoGenerator, EchoGeneratorConfig, StaticPlanner,
                                                    StaticPlannerConfig)
    from interleave_robot.pipeline import GuidancePipeline, PipelineConfig

    vlm = ScriptedVLM(bad)
    pipe = GuidancePipeline(StaticPlanner(StaticPlannerConfig(steps=["move the red block"])),
                            EchoGenerator(EchoGeneratorConfig()), VLMCritic(VLMCriticConfig(), vlm=vlm),
                            PipelineConfig(max_format_retries=2, max_attempts_per_step=1))
    trajectory = pipe.run("t", Observation(scene))
    assert len(vlm.conversations) == 3
    assert trajectory.steps[0].flagged


def test_plan_longer_than_max_steps_is_out_of_format(scene):
    vlm = ScriptedVLM(PLAN_ANSWER)
    with pytest.raises(OutputFormatError, match="max_steps=1"):
        VLMPlanner(VLMPlannerConfig(max_steps=1), vlm=vlm).plan(Task("t"), Observation(scene))


def test_user_template_file(scene, tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("Robot task: $task. Costs $$5. Reply <answer>[...]</answer>")
    vlm = ScriptedVLM(PLAN_ANSWER)
    VLMPlanner(VLMPlannerConfig(template=str(path)), vlm=vlm).plan(Task("stack"), Observation(scene))
    assert vlm.conversations[0][0].text == "Robot task: stack. Costs $5. Reply <answer>[...]</answer>"


def test_template_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_template(str(tmp_path / "none.txt"), "planner.txt", ("task",))
    bad = tmp_path / "bad.txt"
    bad.write_text("Task: $task, colour: $colour")
    with pytest.raises(ConfigError, match="unknown field.*colour"):
        load_template(str(bad), "planner.txt", ("task", "max_steps"))
    bad.write_text("Price: $5")
    with pytest.raises(ConfigError, match="malformed"):
        load_template(str(bad), "planner.txt", ("task",))


def test_packaged_templates_ask_for_the_released_format():
    planner = load_template("", "planner.txt", ("task", "max_steps")).template
    critic = load_template("", "critic.txt", ("task", "instruction", "prompt", "step_name")).template
    for field in ("step_number", "step_name", "instruction", "prompt", "auxiliary_text"):
        assert field in planner
    for field in ("previous_step_success", "refine_prompt"):
        assert field in critic
    for text in (planner, critic):
        assert "<think>" in text and "</think>" in text and "<answer>" in text and "</answer>" in text


def test_config_options_from_strings():
    config = VLMPlannerConfig(vlm="openai", vlm_options='{"base_url": "http://127.0.0.1:9/v1"}', model="m")
    assert config.vlm_options == {"base_url": "http://127.0.0.1:9/v1", "model": "m"}
    with pytest.raises(ConfigError, match="JSON"):
        VLMPlannerConfig(vlm_options="{nope")
    with pytest.raises(ConfigError, match="not both"):
        VLMCriticConfig(model="a", vlm_options={"model": "b"})
    with pytest.raises(ConfigError, match="unknown vlm backend"):
        VLMCriticConfig(vlm="gpt")
    with pytest.raises(TypeError):  # format retries are the pipeline's (max_format_retries), not the agent's
        VLMCriticConfig(format_retries=1)
    with pytest.raises(ConfigError, match="max_steps"):
        VLMPlannerConfig(max_steps=0)


def test_agents_over_openai_backend_built_by_registry(scene):
    server = FakeOpenAIServer(replies=[Reply(content=PLAN_ANSWER), Reply(content=REJECT_ANSWER)])
    try:
        options = {"vlm": "openai", "model": "interleave-planner",
                   "vlm_options": f'{{"base_url": "{server.base_url}"}}'}
        planner = PLANNERS.build("vlm", options)
        critic = CRITICS.build("vlm", options)
        plan = planner.plan(Task("stack"), Observation(scene))
        verdict = critic.critique(critique_request(scene, plan.steps[0].prompt))
        assert len(plan.steps) == 2 and verdict.refine_prompt.startswith("lift the red cube")
        kinds = [[p["type"] for p in r["body"]["messages"][-1]["content"]] for r in server.requests]
        assert kinds == [["image_url", "text"], ["image_url", "image_url", "text"]]
        planner.close()
        critic.close()
    finally:
        server.close()


def test_tiny_transformers_vlm_as_planner_and_critic(tiny_vlm, scene):
    """The untrained tiny model answers garbage: the real path ends in a bounded OutputFormatError."""
    planner = VLMPlanner(VLMPlannerConfig(), vlm=tiny_vlm)
    critic = VLMCritic(VLMCriticConfig(), vlm=tiny_vlm)
    with pytest.raises(OutputFormatError):
        planner.plan(Task("stack red on blue"), Observation(scene))
    with pytest.raises(OutputFormatError):
        critic.critique(critique_request(scene))
    planner.close()  # a shared VLM is not closed by the agents
    assert tiny_vlm.model is not None


def test_planner_and_critic_share_one_loaded_vlm(tiny_vlm_dir):
    options = {"model": str(tiny_vlm_dir), "vlm_options": {"processor": "image-only", "max_new_tokens": 4}}
    planner = PLANNERS.build("vlm", options)
    critic = CRITICS.build("vlm", options)
    alone = CRITICS.build("vlm", {**options, "share_vlm": False})
    assert planner.vlm is critic.vlm and alone.vlm is not planner.vlm
    planner.close()
    planner.close()  # idempotent: releases once
    assert critic.vlm.model is not None  # still used by the critic
    critic.close()
    assert critic.vlm.model is None  # the last sharer closed it
    alone.close()
    assert alone.vlm.model is None

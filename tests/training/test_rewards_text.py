"""Format and accuracy reward terms on hand-made answers, and the weighting."""
from __future__ import annotations

import pytest

from interleave_robot.errors import ConfigError
from interleave_robot.training.rewards import (RewardConfig, accuracy_reward, combine, completion_text,
                                               format_reward)

GOOD_FAIL = ('<think>The red block did not move.</think><answer>{"previous_step_success": false, '
             '"refine_prompt": "Move the red block so that it is on top of the blue block."}</answer>')
GOOD_OK = "<think>Done.</think><answer>{'previous_step_success': True, 'refine_prompt': ''}</answer>"
NO_THINK = '<answer>{"previous_step_success": true, "refine_prompt": ""}</answer>'
MISSING_FIELD = '<think>ok</think><answer>{"previous_step_success": true}</answer>'
MALFORMED = '<think>ok</think><answer>{"previous_step_success": maybe</answer>'
STRING_BOOL = '<think>ok</think><answer>{"previous_step_success": "true", "refine_prompt": ""}</answer>'


def conv(text):
    return [{"role": "assistant", "content": text}]


def test_format_reward_on_hand_made_answers():
    completions = [GOOD_FAIL, GOOD_OK, NO_THINK, MISSING_FIELD, MALFORMED, STRING_BOOL, ""]
    assert format_reward(None, completions) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_format_reward_reads_conversational_completions():
    assert format_reward(None, [conv(GOOD_OK), [{"role": "assistant", "content": [{"type": "text", "text": GOOD_FAIL}]}]]) \
        == [1.0, 1.0]


def test_accuracy_reward_correct_wrong_and_malformed():
    completions = [GOOD_FAIL, GOOD_FAIL, GOOD_OK, MALFORMED]
    assert accuracy_reward(None, completions, success=[False, True, True, False]) == [1.0, 0.0, 1.0, 0.0]


def test_completion_text_rejects_other_types():
    with pytest.raises(ConfigError):
        completion_text(3)


def test_default_weights_are_the_papers_plus_task():
    config = RewardConfig()
    w = config.term_weights()
    assert w == pytest.approx({"format": 0.5, "accuracy": 0.1, "semantic": 0.3, "quality": 0.1, "task": 0.5})
    terms = {"format": 1.0, "accuracy": 1.0, "semantic": 0.5, "quality": 0.5, "task": 0.5}
    assert combine(terms, config) == pytest.approx(0.5 + 0.5 * (0.2 + 0.3 + 0.1) + 0.25)
    assert combine({**terms, "task": None}, RewardConfig(use_task=False)) == pytest.approx(0.8)


def test_reward_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="task_weight"):
        RewardConfig(task_weight=-1)
    with pytest.raises(ConfigError, match="workers"):
        RewardConfig(workers=0)


def test_partial_format_credit():
    from interleave_robot.training.rewards import format_score

    assert format_score(GOOD_FAIL, partial=True) == 1.0
    assert format_score("<think>x</think><answer>{'previous_step", partial=True) == 0.5
    assert format_score("<think>x</think> nothing", partial=True) == 0.25
    assert format_score("garbage", partial=True) == 0.0

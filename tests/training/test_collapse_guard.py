"""The collapse guard: with class balancing a constant-answer policy scores no better than a seeing one.

A measured GRPO run (docs/RESULTS.md) collapsed to "failed" for every image: under the paper's
rule a rejected correct image still earns semantic = quality = 0.5, and most images are faulty.
Here real rows from the simulator are scored under both rules for three policies: always
"failed" (with the explicit prompt as the refine prompt), always "success", and an imperfect
seeing critic that is right on 3 of every 4 rows.
"""
from __future__ import annotations

import json

import pytest
from datasets import load_from_disk

from interleave_robot.training.rewards import RewardConfig, SimRewards, combine


def answer(success: bool, refine: str = "") -> str:
    return ("<think>I compare the two images.</think><answer>"
            + json.dumps({"previous_step_success": success, "refine_prompt": refine}) + "</answer>")


def columns(rows) -> dict:
    keys = ("images", "success", "row_seed", "source_snapshot", "gt_snapshot", "subgoal", "task", "step_index",
            "num_steps", "instruction")
    return {k: [r[k] for r in rows] for k in keys}


@pytest.fixture(scope="module")
def mixed_rows(critic_rl):
    """Rows with failures the majority (as in the training data: ~60% faulty)."""
    splits = load_from_disk(str(critic_rl))
    data = [r for name in ("train", "test") for r in splits[name]]
    failed = [r for r in data if not r["success"]]
    ok = [r for r in data if r["success"]]
    assert len(failed) >= 4 and len(ok) >= 2
    n_ok = max(2, min(len(ok), len(failed) * 2 // 3))
    return failed + ok[:n_ok]


def mean_reward(rows, policy, config: RewardConfig) -> float:
    rewards = SimRewards(config)
    try:
        texts = [policy(i, r) for i, r in enumerate(rows)]
        terms = rewards.all_terms(texts, **columns(rows))
    finally:
        rewards.close()
    return sum(combine(t, config) for t in terms) / len(terms)


def always_failed(i, row):
    return answer(False, row["explicit_prompt"])


def always_success(i, row):
    return answer(True)


def seeing(i, row):
    right = i % 4 != 3  # wrong on every fourth row
    says_success = row["success"] if right else not row["success"]
    return answer(True) if says_success else answer(False, row["explicit_prompt"])


def test_constant_answers_do_not_beat_a_seeing_critic_with_the_guard(mixed_rows):
    failed_share = sum(not r["success"] for r in mixed_rows) / len(mixed_rows)
    guard = RewardConfig(fault_rate=0.0, use_task=False, balance_classes=True, failed_share=failed_share)
    paper = RewardConfig(fault_rate=0.0, use_task=False)
    with_guard = {p.__name__: mean_reward(mixed_rows, p, guard) for p in (always_failed, always_success, seeing)}
    without = {p.__name__: mean_reward(mixed_rows, p, paper) for p in (always_failed, always_success, seeing)}
    # Under the paper's rule the constant "failed" policy beats a critic that sees 3 rows in 4:
    # the reason GRPO collapsed. With the guard, seeing wins over both constants.
    assert without["always_failed"] > without["seeing"]
    assert with_guard["seeing"] > with_guard["always_failed"]
    assert with_guard["seeing"] > with_guard["always_success"]


def test_balanced_accuracy_of_a_constant_is_a_coin_flip():
    from interleave_robot.training.rewards.config import class_weight

    config = RewardConfig(balance_classes=True, failed_share=0.6)
    # Expected accuracy term of "always failed": share_failed * weight(failed) = 0.5; "always success" alike.
    assert 0.6 * class_weight(config, False) == pytest.approx(0.5)
    assert 0.4 * class_weight(config, True) == pytest.approx(0.5)
    assert class_weight(RewardConfig(), True) == 1.0

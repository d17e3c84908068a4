"""Simulator-backed reward terms on hand-made answers: a refine prompt that fixes the fault, one
that does not, a wrong "success", a ground-truth success, malformed output; parallel == sequential."""
from __future__ import annotations

import json

import pytest
from datasets import load_from_disk

from interleave_robot.training.rewards import RewardConfig, SimRewards


def answer(success: bool, refine: str = "") -> str:
    return ("<think>I compare the two images.</think><answer>"
            + json.dumps({"previous_step_success": success, "refine_prompt": refine}) + "</answer>")


def wrong_prompt(row) -> str:
    """An explicit prompt for another subgoal: the moved block next to a block that is not its target."""
    from interleave_robot.sim_envs.language import Subgoal, describe_subgoal
    from interleave_robot.sim_envs.scene import SimSnapshot

    spec = SimSnapshot.from_dict(json.loads(row["source_snapshot"])).spec
    subgoal = Subgoal.from_dict(json.loads(row["subgoal"]))
    other = next(b.name for b in spec.blocks if b.name not in (subgoal.obj, *subgoal.reference))
    relation = "left_of" if subgoal.relation != "left_of" else "right_of"
    return describe_subgoal(Subgoal(subgoal.obj, relation, [other]), spec)


def columns(rows) -> dict:
    keys = ("images", "success", "row_seed", "source_snapshot", "gt_snapshot", "subgoal", "task", "step_index",
            "num_steps", "instruction")
    return {k: [r[k] for r in rows] for k in keys}


@pytest.fixture(scope="module")
def rows(critic_rl):
    data = load_from_disk(str(critic_rl))["train"]
    failed = [r for r in data if not r["success"] and r["family"] == "stack" and r["step_index"] == 0]
    ok = [r for r in data if r["success"]]
    assert failed and ok, "the fixture episodes must contain a failed stack step and a correct step"
    return failed[0], ok[0]


def test_step_terms_on_hand_made_answers(rows):
    failed, ok = rows
    rewards = SimRewards(RewardConfig(fault_rate=0.0, use_task=False))
    try:
        cases = [(failed, answer(False, failed["explicit_prompt"])),  # refine prompt that fixes the fault
                 (failed, answer(False, wrong_prompt(failed))),  # refine prompt that does not
                 (failed, answer(False, "Move the block so that it is.")),  # unreadable refine prompt
                 (failed, answer(True)),  # wrong verdict: the faulty image would be accepted
                 (ok, answer(True)),  # correct acceptance: regeneration skipped
                 (failed, "<answer>{'previous_step_success': false")]  # malformed
        terms = rewards.all_terms([c for _, c in cases], **columns([r for r, _ in cases]))
    finally:
        rewards.close()
    fixed, unfixed, unreadable, wrong, accepted, malformed = terms
    assert (fixed["format"], fixed["accuracy"], fixed["semantic"], fixed["quality"]) == (1.0, 1.0, 1.0, 1.0)
    assert unfixed["accuracy"] == 1.0 and unfixed["semantic"] == 0.0
    assert (unreadable["semantic"], unreadable["quality"], unreadable["regen_fault"]) == (0.0, 0.0, "unparsed")
    assert (wrong["accuracy"], wrong["semantic"], wrong["quality"]) == (0.0, 0.0, 0.0)
    assert (accepted["accuracy"], accepted["semantic"], accepted["quality"]) == (1.0, 0.5, 0.5)
    assert malformed == {**malformed, "format": 0.0, "accuracy": 0.0, "semantic": 0.0, "quality": 0.0}
    assert all(t["task"] is None for t in terms)


def test_task_term_runs_the_executor(rows):
    failed, _ = rows
    rewards = SimRewards(RewardConfig(fault_rate=0.0, use_task=True))
    try:
        fn = rewards.term_function("task")
        got = fn(None, [answer(False, failed["explicit_prompt"]), answer(False, wrong_prompt(failed))],
                 **columns([failed, failed]))
    finally:
        rewards.close()
    assert got == [1.0, 0.0]


def test_parallel_evaluation_equals_sequential(critic_rl):
    data = load_from_disk(str(critic_rl))["train"]
    rows = [r for r in data if not r["success"]][:4]
    answers = [answer(False, r["explicit_prompt"]) for r in rows] + [answer(False, r["gen_prompt"]) for r in rows]
    cols = columns(rows + rows)
    results = []
    for workers in (1, 2):
        rewards = SimRewards(RewardConfig(fault_rate=0.3, use_task=False, workers=workers))
        try:
            results.append(rewards.all_terms(answers, **cols))
        finally:
            rewards.close()
    assert results[0] == results[1]

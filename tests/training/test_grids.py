"""The dense reading targets (training/grids.py): grids from physics state, changes, the answer text."""
from __future__ import annotations

import json

from datasets import load_from_disk

from interleave_robot.training.grids import GRID, changed, grids_think, read_grids, spaced
from interleave_robot.training.prompts import PromptConfig


def test_changed_lists_moved_vanished_and_duplicated_letters():
    before = "." * 10 + "r" + "." * 20 + "b" + "." * 32
    after = "." * 12 + "r" + "." * 18 + "b" + "." * 32
    assert changed(before, after) == ["r c2r1>c4r1"]
    stacked = before.replace("b", "r").replace("r", ".", 1)  # red now hides blue (stacked)
    assert changed(before, stacked) == ["b c7r3>-", "r c2r1>c7r3"]
    duplicated = before[:40] + "r" + before[41:]
    assert changed(before, duplicated) == ["r c2r1>c2r1,c0r5"]


def test_rows_carry_grids_that_match_the_scene(critic_rl):
    rows = load_from_disk(str(critic_rl))["train"]
    for row in rows:
        record = json.loads(row["grids"])
        assert len(record["before"]) == len(record["after"]) == GRID * GRID
        target = record["goal"].split()[0]
        assert target in record["before"]  # the object to move is visible before the edit
        assert record["noise"] == (row["generator_fault"] == "artifact")
        if row["success"]:  # a correct edit shows the object in the cell it should end in
            want = record["want"].split()[1]
            col, r = int(want[1]), int(want[3])
            assert record["after"][r * GRID + col] == target
        think = grids_think(record, row["success"])
        assert read_grids(think) == [record["before"], record["after"]]
        assert think.endswith("ok" if row["success"] else "bad")


def test_each_cell_is_one_token_for_the_tiny_tokenizer(critic_rl):
    from interleave_robot.backends.tiny_vlm import DEFAULT_CORPUS, train_tokenizer
    from interleave_robot.training.formatting import corpus_for_tokenizer, load_split

    train = load_split(critic_rl, "train")
    corpus = corpus_for_tokenizer(train, PromptConfig(answer_style="grids"), "critic")
    tokenizer = train_tokenizer([*DEFAULT_CORPUS, *corpus], 768)
    record = json.loads(train[0]["grids"])
    # One token per cell keeps every cell at a fixed distance from its image token (1D positions).
    assert len(tokenizer.tokenize(spaced(record["before"]))) == GRID * GRID
    assert len(tokenizer.tokenize(spaced(record["after"]))) == GRID * GRID


def test_critic_rows_are_deterministic_for_a_seed():
    from interleave_robot.training.simulate import RolloutConfig, close_envs, critic_rows

    try:
        first = critic_rows("sort", 11, RolloutConfig(attempts_per_step=2))
        second = critic_rows("sort", 11, RolloutConfig(attempts_per_step=2))
    finally:
        close_envs()
    keys = ("grids", "success", "fault", "gen_prompt", "row_seed", "after_snapshot")
    assert [{k: r[k] for k in keys} for r in first] == [{k: r[k] for k in keys} for r in second]
    assert [r["images"][1].tobytes() for r in first] == [r["images"][1].tobytes() for r in second]


def test_field_accuracy_scores_each_part_of_the_answer():
    from interleave_robot.training.grids import field_accuracy

    record = json.dumps({"before": "." * 10 + "r" + "." * 53, "after": "." * 12 + "r" + "." * 51,
                         "goal": "r on b", "want": "r c4r1", "noise": False})
    right = grids_think(json.loads(record), True)
    wrong_goal = right.replace("goal r on b", "goal y on y").replace(" / ok", " / bad")
    scores = field_accuracy([right, wrong_goal], [record, record], [True, True])
    assert scores == {"goal": 0.5, "want": 1.0, "moved": 1.0, "noise": 1.0, "verdict_word": 0.5}


def test_arrival_grid_marks_only_cells_a_block_newly_occupies():
    from interleave_robot.training.grids import arrivals

    before = "." * 10 + "r" + "." * 20 + "b" + "." * 32
    moved = "." * 12 + "r" + "." * 18 + "b" + "." * 32  # red moved two cells right
    assert arrivals(before, moved) == "." * 12 + "r" + "." * 51
    stacked = before[:10] + "." + before[11:31] + "r" + before[32:]  # red now on blue (hides it)
    assert arrivals(before, stacked) == "." * 31 + "r" + "." * 32
    assert arrivals(before, before) == "." * 64  # nothing moved: no arrival
    binned = before[:20] + "G" + before[21:]  # a bin letter showing is not an arrival of a block
    assert arrivals(before, binned) == "." * 64


def test_arrivals_think_writes_three_grids_then_goal_noise_and_verdict():
    from interleave_robot.training.grids import field_accuracy, think_field

    record = {"before": "." * 10 + "r" + "." * 53, "after": "." * 12 + "r" + "." * 51,
              "goal": "r right of b", "want": "r c4r1", "noise": False}
    think = grids_think(record, True, "arrivals")
    grids = read_grids(think, 3)
    assert grids == [record["before"], record["after"], "." * 12 + "r" + "." * 51]
    assert think_field(think, "goal") == "r right of b" and think_field(think, "noise") == "no"
    assert think.endswith(" / ok") and grids_think(record, False, "arrivals").endswith(" / bad")
    wrong_arrival = think.replace("/ " + spaced(grids[2]).strip(), "/ " + spaced("." * 64).strip())
    scores = field_accuracy([think, wrong_arrival], [json.dumps(record)] * 2, [True, True], "arrivals")
    assert scores == {"goal": 1.0, "noise": 1.0, "arrival_grid": 0.5, "verdict_word": 1.0}

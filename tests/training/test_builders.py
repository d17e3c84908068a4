"""Dataset builders: valid rows for every kind, data card, determinism and resume."""
from __future__ import annotations

import json
import shutil

import pytest
from datasets import load_from_disk

from interleave_robot.errors import ConfigError
from interleave_robot.parsing import parse_plan, parse_verdict
from interleave_robot.training.builders import BuildConfig, build_dataset

FAULTS = {"none", "no_op", "wrong_object", "wrong_place", "collateral", "artifact", "duplicate", "unparsed", "misread"}


def test_critic_rl_rows_are_valid(critic_rl):
    data = load_from_disk(str(critic_rl))
    assert set(data) == {"train", "test"} and len(data["train"]) > 0 and len(data["test"]) > 0
    for row in data["train"]:
        before, after = row["images"]
        assert before.size == after.size == (128, 128)
        assert row["fault"] in FAULTS
        assert row["success"] == (row["fault"] == "none")
        verdict = parse_verdict(row["answer"])
        assert verdict.success == row["success"]
        assert (verdict.refine_prompt == "") == row["success"]
        for column in ("source_snapshot", "gt_snapshot", "after_snapshot", "subgoal", "task", "camera", "cells"):
            json.loads(row[column])
    card = (critic_rl / "README.md").read_text()
    assert "Rows per family" in card and "Rows per fault" in card


@pytest.mark.parametrize("kind", ["planner-sft", "critic-sft"])
def test_other_kinds_build_valid_rows(kind, tmp_path):
    out = build_dataset(BuildConfig(kind=kind, episodes=2, seed=1, out=str(tmp_path / kind), test_fraction=0.5,
                                    families=["pick_place", "stack"]), progress=False)
    data = load_from_disk(str(out))
    row = data["train"][0]
    if kind == "planner-sft":
        assert len(row["images"]) == 1
        plan = parse_plan(row["answer"])
        assert len(plan.steps) == row["num_steps"] >= 1
    else:
        assert len(row["images"]) == 2 and "source_snapshot" not in row
        assert parse_verdict(row["answer"]).success == row["success"]


def test_build_is_deterministic_and_resumes(tmp_path):
    config = BuildConfig(kind="critic-sft", episodes=2, seed=5, out=str(tmp_path / "a"), shard_episodes=1,
                         families=["pick_place"])
    first = load_from_disk(str(build_dataset(config, progress=False)))
    shutil.rmtree(tmp_path / "a" / "shards" / "shard_00001")  # an interrupted build: one shard missing
    resumed = load_from_disk(str(build_dataset(config, progress=False)))
    fresh = load_from_disk(str(build_dataset(BuildConfig(**{**vars(config), "out": str(tmp_path / "b")}),
                                             progress=False)))
    for split in ("train", "test"):
        a, b, c = (d[split].remove_columns("images").to_list() for d in (first, resumed, fresh))
        assert a == b == c
    with pytest.raises(ConfigError, match="other options"):
        build_dataset(BuildConfig(**{**vars(config), "seed": 6}), progress=False)


def test_build_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="kind"):
        BuildConfig(kind="dpo", out="x")
    with pytest.raises(ConfigError, match="families"):
        BuildConfig(out="x", families=["juggle"])
    with pytest.raises(ConfigError, match="episodes"):
        BuildConfig(out="x", episodes=0)


def _rows_with_pixels(data) -> dict:
    import numpy as np

    return {split: [{**{k: v for k, v in row.items() if k != "images"},
                     "images": [np.asarray(image).tobytes() for image in row["images"]]} for row in ds]
            for split, ds in data.items()}


def test_two_processes_build_the_rows_of_one_and_resume_a_part(tmp_path):
    base = dict(kind="critic-rl", episodes=6, seed=11, shard_episodes=3, families=["stack", "pick_place"],
                test_fraction=0.34)
    one = build_dataset(BuildConfig(out=str(tmp_path / "one"), workers=1, **base), progress=False)
    timings = {}
    two = build_dataset(BuildConfig(out=str(tmp_path / "two"), workers=2, **base), progress=False, timings=timings)
    # 2 shards for 2 processes: each is cut into parts (1 episode each), and both processes built some.
    assert len(timings["units"]) == 6 and len({u["pid"] for u in timings["units"]}) == 2
    expected = _rows_with_pixels(load_from_disk(str(one)))
    assert len(expected["train"]) > 0 and len(expected["test"]) > 0
    assert _rows_with_pixels(load_from_disk(str(two))) == expected  # images compared pixel for pixel
    parts = sorted(p for p in (tmp_path / "two" / "shards").iterdir() if ".part" in p.name)
    assert len(parts) == 6
    shutil.rmtree(parts[2])  # an interrupted build: one part missing, resumed by one process
    resumed_timings = {}
    resumed = build_dataset(BuildConfig(out=str(tmp_path / "two"), workers=1, **base), progress=False,
                            timings=resumed_timings)
    assert [(u["shard"], u["part"]) for u in resumed_timings["units"]] == [(0, 2)]
    assert _rows_with_pixels(load_from_disk(str(resumed))) == expected

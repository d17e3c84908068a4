"""Held-out evaluation data comes from its own seed and never overlaps the training episodes."""
from __future__ import annotations

import pytest

from interleave_robot.errors import ConfigError
from interleave_robot.training.builders import BuildConfig, build_dataset
from interleave_robot.training.formatting import load_split
from interleave_robot.training.reproduce import check_disjoint


def test_heldout_build_from_another_seed_is_disjoint_and_all_test(critic_rl, tmp_path):
    held = build_dataset(BuildConfig(kind="critic-rl", episodes=2, seed=99, out=str(tmp_path / "held"),
                                     test_fraction=1.0), progress=False)
    assert len(load_split(held, "train")) == 0 and len(load_split(held, "test")) > 0
    assert check_disjoint(critic_rl, held) == 0


def test_overlapping_heldout_is_refused(critic_rl):
    with pytest.raises(ConfigError, match="overlap"):
        check_disjoint(critic_rl, critic_rl)


def test_results_table_reports_the_gap_closed():
    from interleave_robot.training.results import gap_closed

    assert gap_closed(0.5, 0.9, 0.7) == pytest.approx(0.5)
    assert gap_closed(0.5, 0.5, 0.7) is None
    assert gap_closed(0.5, 0.9, None) is None

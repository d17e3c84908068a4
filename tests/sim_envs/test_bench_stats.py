"""Bench statistics: Wilson intervals and McNemar's test paired by seed (statsmodels)."""
import pytest

from interleave_robot.sim_envs.bench_report import aggregate
from interleave_robot.sim_envs.bench_stats import mcnemar_paired, wilson_interval


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)  # the textbook Wilson 95% interval
    assert wilson_interval(0, 0) == (0.0, 0.0)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.15 < hi < 0.17


def test_mcnemar_pairs_by_seed():
    treated = {s: True for s in range(20)}
    control = {s: s < 10 for s in range(20)}
    test = mcnemar_paired(treated, control)
    assert test == {"pairs": 20, "treated_only": 10, "control_only": 0, "p_value": pytest.approx(2 * 0.5 ** 10)}
    assert mcnemar_paired({1: True, 2: False}, {1: True, 2: False})["p_value"] == 1.0
    assert mcnemar_paired({1: True}, {2: True})["pairs"] == 0  # unpaired seeds are not compared


def test_rows_carry_paired_p_values():
    def row(critic, loop, seed, success):
        return {"task": "stack", "fault_rate": 0.3, "critic": critic, "loop": loop, "seed": seed, "success": success,
                "planner": "teacher", "generator": "sim", "execution_noise": 0.0, "steps": 2, "accepted_faults": [],
                "judge": [{"right": success, "ground_truth_right": True}]}
    rows = [row("perception", "closed", s, True) for s in range(12)]
    rows += [row("none", "closed", s, s < 2) for s in range(12)]
    rows += [row("perception", "open", s, s < 6) for s in range(12)]
    table = {(r["critic"], r["loop"]): r for r in aggregate(rows)}
    on = table[("perception", "closed")]
    assert on["mcnemar_p_vs_no_critic"] == round(2 * 0.5 ** 10, 4) and on["paired_vs_no_critic"]["treated_only"] == 10
    assert on["mcnemar_p_vs_open_loop"] == round(2 * 0.5 ** 6, 4)
    assert table[("none", "closed")]["mcnemar_p_vs_no_critic"] is None
    assert on["judge_agreement"] == 1.0 and table[("none", "closed")]["judge_agreement"] == round(2 / 12, 3)
    assert on["success_ci95"] == [round(x, 3) for x in wilson_interval(12, 12)]

"""Evaluation metrics on known predictions."""
from __future__ import annotations

import pytest

from interleave_robot.training.evaluate import summarize
from interleave_robot.training.metrics import binary_metrics, per_fault_metrics, roc_auc

OK = '<think>x</think><answer>{"previous_step_success": true, "refine_prompt": ""}</answer>'
BAD = '<think>x</think><answer>{"previous_step_success": false, "refine_prompt": "Move the red block"}</answer>'


def test_binary_metrics_counts_and_ratios():
    truth = [True, True, False, False, True]
    pred = [True, False, True, False, None]  # None: malformed, wrong either way
    m = binary_metrics(truth, pred)
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (1, 2, 1, 1)
    assert m["accuracy"] == pytest.approx(2 / 5)
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(1 / 3)


def test_per_fault_metrics_compare_each_fault_with_clean_rows():
    faults = ["none", "none", "no_op", "no_op", "wrong_place"]
    pred_failed = [False, True, True, True, False]
    m = per_fault_metrics(faults, pred_failed)
    assert m["none"] == {"n": 2, "accuracy": 0.5}
    assert m["no_op"]["recall"] == 1.0 and m["no_op"]["precision"] == pytest.approx(2 / 3)
    assert m["wrong_place"]["recall"] == 0.0 and m["wrong_place"]["n_fault"] == 1


def test_roc_auc_known_values():
    assert roc_auc([True, True, False, False], [0.9, 0.8, 0.1, 0.2]) == 1.0
    assert roc_auc([True, False], [0.1, 0.9]) == 0.0
    assert roc_auc([True, False, True, False], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert roc_auc([True, True], [0.1, 0.2]) is None


def test_summarize_from_answer_texts():
    result = summarize(success=[True, False, False, True], faults=["none", "no_op", "duplicate", "none"],
                       answers=[OK, BAD, OK, "garbage"], scores=[0.0, 1.0, 0.5, 0.2])
    assert result["format_rate"] == 0.75
    assert result["overall"]["accuracy"] == 0.5  # OK on a clean row, BAD on a fault; garbage is wrong
    assert result["per_fault"]["duplicate"]["recall"] == 0.0
    assert result["auc_teacher_forced"] == 1.0

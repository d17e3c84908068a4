"""Critic metrics on known predictions: accuracy, precision/recall, per fault type, ROC AUC.

The positive class is "the step failed" (the critic's job is to catch faults): a true
positive is a faulty image the critic rejected. An answer out of format counts as wrong
(it is neither a rejection nor an acceptance the loop could use): it is a miss on a faulty
image and a false alarm on a correct one.
"""
from __future__ import annotations

import numpy as np


def binary_metrics(truth_failed: list[bool], pred_failed: list[bool | None]) -> dict:
    """accuracy, precision, recall, f1 and counts; a None prediction (malformed) is always wrong."""
    tp = fp = tn = fn = 0
    for t, p in zip(truth_failed, pred_failed, strict=True):
        if p is None:
            p = not t  # wrong either way
        if t and p:
            tp += 1
        elif t:
            fn += 1
        elif p:
            fp += 1
        else:
            tn += 1
    n = tp + fp + tn + fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": n, "accuracy": (tp + tn) / n if n else 0.0, "precision": precision, "recall": recall, "f1": f1,
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def per_fault_metrics(faults: list[str], pred_failed: list[bool | None]) -> dict:
    """For each fault type f: metrics on the rows whose fault is f or "none" (f vs clean).

    Recall is the share of f-images rejected; precision is how many rejections within that
    subset were right. For "none" itself: the share of clean images accepted (`accuracy`).
    """
    result = {}
    for fault in sorted(set(faults)):
        if fault == "none":
            idx = [i for i, f in enumerate(faults) if f == "none"]
            accepted = sum(1 for i in idx if pred_failed[i] is False)
            result["none"] = {"n": len(idx), "accuracy": accepted / len(idx) if idx else 0.0}
            continue
        idx = [i for i, f in enumerate(faults) if f in (fault, "none")]
        m = binary_metrics([faults[i] == fault for i in idx], [pred_failed[i] for i in idx])
        m["n_fault"] = sum(1 for i in idx if faults[i] == fault)
        result[fault] = m
    return result


def roc_auc(labels: list[bool], scores: list[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half); None if one class is absent."""
    pos = [s for l, s in zip(labels, scores, strict=True) if l]
    neg = [s for l, s in zip(labels, scores, strict=True) if not l]
    if not pos or not neg:
        return None
    order = sorted((s, i) for i, s in enumerate(scores))
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and order[j + 1][0] == order[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k][1]] = (i + j) / 2 + 1
        i = j + 1
    rank_pos = sum(r for r, l in zip(ranks, labels) if l)
    return (rank_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def bootstrap_interval(correct: list[bool], draws: int = 2000, seed: int = 0) -> list[float] | None:
    """95% interval of a mean of 0/1 outcomes, rows resampled with replacement (None when empty)."""
    if not correct:
        return None
    rng = np.random.default_rng(seed)
    means = np.sort(rng.choice(np.asarray(correct, dtype=float), size=(draws, len(correct))).mean(axis=1))
    return [float(means[int(0.025 * draws)]), float(means[int(0.975 * draws) - 1])]

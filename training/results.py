"""The result tables of the CPU critic experiment, from the stage files reproduce.py wrote.

The first table is the one the recipe promises (issue 10, item 4): stage, wall time, held-out
accuracy, teacher-forced AUC, downstream task success. Then per fault type, the reward terms,
the GRPO training reward and the share of the no-critic -> perception-critic gap closed.
"""
from __future__ import annotations

import json
from pathlib import Path

TERMS = ("format", "accuracy", "semantic", "quality", "task", "combined")
STAGES = ("data", "data_heldout", "init", "sft", "eval_sft", "downstream_none", "downstream_perception",
          "downstream_sft", "grpo", "eval_grpo", "downstream_grpo")


def _load(out: Path, name: str) -> dict | None:
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def gap_closed(none: float | None, perception: float | None, critic: float | None) -> float | None:
    """(critic - none) / (perception - none): the share of the gap a critic closes (None if undefined)."""
    if None in (none, perception, critic) or perception == none:
        return None
    return (critic - none) / (perception - none)


def _rate(stage: dict | None) -> float | None:
    return None if stage is None else stage["success_rate"]


def summary_rows(stages: dict) -> list[dict]:
    """One row per stage of the final table."""
    none, perception = _rate(stages["downstream_none"]), _rate(stages["downstream_perception"])
    rows = [{"stage": "data (train + held-out)", "seconds": sum((stages[s] or {}).get("seconds", 0)
                                                                for s in ("data", "data_heldout", "init"))},
            {"stage": "no critic", "seconds": (stages["downstream_none"] or {}).get("seconds"), "downstream": none},
            {"stage": "perception critic", "seconds": (stages["downstream_perception"] or {}).get("seconds"),
             "downstream": perception}]
    for label, train, ev, down in (("SFT", "sft", "eval_sft", "downstream_sft"),
                                   ("SFT + GRPO", "grpo", "eval_grpo", "downstream_grpo")):
        e, d = stages[ev], stages[down]
        seconds = sum((stages[s] or {}).get("seconds", 0) for s in (train, ev, down))
        rows.append({"stage": label, "seconds": seconds, "accuracy": e["overall"]["accuracy"] if e else None,
                     "auc": e.get("auc_teacher_forced") if e else None, "downstream": _rate(d),
                     "gap_closed": gap_closed(none, perception, _rate(d))})
    return rows


def write_results(out: str | Path) -> str:
    """Write results.md and results.json under `out`; return the markdown."""
    out = Path(out)
    stages = {n: _load(out, n) for n in STAGES}
    rows = summary_rows(stages)
    lines = ["| stage | wall time (min) | held-out accuracy | teacher-forced AUC | downstream success | gap closed |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        seconds = r.get("seconds")
        lines.append(f"| {r['stage']} | {_f(None if seconds is None else seconds / 60, 1)} | "
                     f"{_f(r.get('accuracy'))} | {_f(r.get('auc'))} | {_f(r.get('downstream'), 2)} | "
                     f"{_f(r.get('gap_closed'), 2)} |")
    held = stages["data_heldout"]
    if held:
        lines += ["", f"Held-out episodes from seed {held.get('eval_seed')} (overlap with training episodes: "
                      f"{held.get('overlap_with_training')}); downstream: fault rate "
                      f"{(stages['downstream_none'] or {}).get('fault_rate')}, "
                      f"{(stages['downstream_none'] or {}).get('episodes')} episodes from seed "
                      f"{(stages['downstream_none'] or {}).get('seed')}."]
    for label, name in (("after SFT", "eval_sft"), ("after GRPO", "eval_grpo")):
        e = stages[name]
        if not e:
            continue
        o = e["overall"]
        lines += ["", f"Held-out {label}: precision {_f(o['precision'])}, recall {_f(o['recall'])} (positive class: "
                      f"the step failed), format rate {_f(e['format_rate'], 2)}, answers 'failed' "
                      f"{_f(e['predicted_failed_rate'], 2)} (truth {_f(e['true_failed_rate'], 2)}), n {o['n']}, "
                      f"accuracy 95% bootstrap interval {e.get('accuracy_interval')}"
                      + ("" if "grid_cell_accuracy" not in e else ", cells of the written grids right: before "
                         f"{_f(e['grid_cell_accuracy']['before'])}, after {_f(e['grid_cell_accuracy']['after'])}")
                      + ".", "",
                  "| fault | n | precision | recall |", "|---|---|---|---|"]
        for fault, m in sorted(e["per_fault"].items()):
            if fault == "none":
                lines.append(f"| none (correct images accepted) | {m['n']} | - | {_f(m['accuracy'])} |")
            else:
                lines.append(f"| {fault} | {m['n_fault']} | {_f(m['precision'])} | {_f(m['recall'])} |")
    lines += ["", "Mean reward per term on held-out rows (greedy answers, paper's rule, no class balancing):", "",
              "| model | " + " | ".join(TERMS) + " |", "|---" * (len(TERMS) + 1) + "|"]
    for label, name in (("after SFT (before GRPO)", "eval_sft"), ("after GRPO", "eval_grpo")):
        e = stages[name]
        if e and e.get("reward_terms"):
            lines.append(f"| {label} | " + " | ".join(_f(e["reward_terms"].get(t)) for t in TERMS) + " |")
    g = stages["grpo"]
    if g:
        lines += ["", "GRPO training reward (trl's logged means, first -> last quarter of the run): " + ", ".join(
            f"{k} {_f(g['reward_first'].get(k))} -> {_f(v)}" for k, v in g["reward_last"].items())]
    seconds = sum(s.get("seconds", 0) for s in stages.values() if s)
    lines += ["", f"Total wall time of the stages: {seconds / 60:.1f} min."]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps({"summary": rows, "stages": stages}, indent=2, default=str))
    return text

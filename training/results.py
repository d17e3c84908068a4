"""The result table of the CPU critic experiment, from the stage files reproduce.py wrote."""
from __future__ import annotations

import json
from pathlib import Path

TERMS = ("format", "accuracy", "semantic", "quality", "task", "combined")


def _load(out: Path, name: str) -> dict | None:
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def write_results(out: str | Path) -> str:
    """Write results.md and results.json under `out`; return the markdown."""
    out = Path(out)
    stages = {n: _load(out, n) for n in ("data", "probes", "eval_init", "sft", "eval_sft", "probe_vision_sft",
                                          "grpo", "eval_grpo", "downstream_none", "downstream_perception",
                                          "downstream_grpo")}
    lines = ["| critic | held-out accuracy | precision (fail) | recall (fail) | format rate | teacher-forced AUC |",
             "|---|---|---|---|---|---|"]
    for label, name in (("tiny VLM at init", "eval_init"), ("after SFT", "eval_sft"), ("after GRPO", "eval_grpo")):
        e = stages[name]
        if e:
            o = e["overall"]
            lines.append(f"| {label} | {_f(o['accuracy'])} | {_f(o['precision'])} | {_f(o['recall'])} | "
                         f"{_f(e['format_rate'], 2)} | {_f(e.get('auc_teacher_forced'))} |")
    lines += ["", "Mean reward per term on held-out rows (greedy answers):", "",
              "| model | " + " | ".join(TERMS) + " |", "|---" * (len(TERMS) + 1) + "|"]
    for label, name in (("at init", "eval_init"), ("after SFT (before GRPO)", "eval_sft"),
                        ("after GRPO", "eval_grpo")):
        e = stages[name]
        if e and e.get("reward_terms"):
            lines.append(f"| {label} | " + " | ".join(_f(e["reward_terms"].get(t)) for t in TERMS) + " |")
    g = stages["grpo"]
    if g:
        lines += ["", f"GRPO training reward (trl's logged means, first -> last quarter of the run): " + ", ".join(
            f"{k} {_f(g['reward_first'].get(k))} -> {_f(v)}" for k, v in g["reward_last"].items())]
    lines += ["", "| critic in the loop | task success | episodes |", "|---|---|---|"]
    for label, name in (("none", "downstream_none"), ("perception (classical vision)", "downstream_perception"),
                        ("tiny VLM after SFT+GRPO", "downstream_grpo")):
        d = stages[name]
        if d:
            lines.append(f"| {label} | {_f(d['success_rate'], 2)} | {d['episodes']} |")
    p = stages["probes"]
    if p:
        lines += ["", "Probes (2-layer MLP on fixed features; held-out AUC for 'the step failed'): " + ", ".join(
            f"{k} {_f(v['test_auc'])}" for k, v in {**p, **{f'vision tower after SFT ({k})': v for k, v in
                                                         (stages['probe_vision_sft'] or {}).items()
                                                         if k == 'vision'}}.items() if isinstance(v, dict))]
    seconds = sum(s.get("seconds", 0) for s in stages.values() if s)
    lines += ["", f"Total wall time of the stages: {seconds / 60:.1f} min."]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(stages, indent=2, default=str))
    return text

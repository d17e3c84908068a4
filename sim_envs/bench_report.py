"""Aggregating bench episodes into rows, and writing results.json, results.csv, plots and report.md."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

COLUMNS = ("task", "fault_rate", "critic", "episodes", "success_rate", "success_ci95", "generator_calls_per_step",
           "critic_rejections_per_step", "accepted_fault_rate", "errors", "seconds_per_episode")


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a success rate (sound for small n and rates near 0 or 1)."""
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per (task, fault_rate, critic), in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], float(r["fault_rate"]), bool(r["critic"])), []).append(r)
    table = []
    for (task, rate, critic), rs in groups.items():
        n = len(rs)
        wins = sum(bool(r["success"]) for r in rs)
        steps = sum(r.get("steps") or 0 for r in rs)
        accepted = [f for r in rs for f in r.get("accepted_faults") or []]
        lo, hi = wilson(wins, n)
        table.append({
            "task": task, "fault_rate": rate, "critic": "on" if critic else "off", "episodes": n,
            "success_rate": round(wins / n, 4), "success_ci95": [round(lo, 3), round(hi, 3)],
            "generator_calls_per_step": round(sum(r.get("generator_calls") or 0 for r in rs) / max(steps, 1), 3),
            "critic_rejections_per_step": round(sum(r.get("critic_rejections") or 0 for r in rs) / max(steps, 1), 3),
            "accepted_fault_rate": round(sum(f != "none" for f in accepted) / max(len(accepted), 1), 3),
            "errors": sum(1 for r in rs if r.get("error")),
            "seconds_per_episode": round(sum(r.get("seconds") or 0.0 for r in rs) / n, 2),
        })
    return table


def _fmt(row: dict) -> list[str]:
    lo, hi = row["success_ci95"]
    return [row["task"], f"{row['fault_rate']:g}", row["critic"], str(row["episodes"]),
            f"{row['success_rate']:.2f} [{lo:.2f}, {hi:.2f}]", f"{row['generator_calls_per_step']:.2f}",
            f"{row['critic_rejections_per_step']:.2f}", f"{row['accepted_fault_rate']:.2f}", str(row["errors"]),
            f"{row['seconds_per_episode']:.1f}"]


_HEADER = ["task", "fault rate", "critic", "episodes", "success [95% CI]", "gen calls/step", "rejections/step",
           "faulty accepted", "errors", "s/episode"]


def markdown_table(table: list[dict]) -> str:
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_fmt(r)) + " |" for r in table]
    return "\n".join(lines)


def print_table(table: list[dict]) -> None:
    cells = [_HEADER] + [_fmt(r) for r in table]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEADER))]
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def _plots(out: Path, table: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    tasks = list(dict.fromkeys(r["task"] for r in table))
    fig, ax = plt.subplots(figsize=(6, 4))
    for task in tasks:
        for critic, style in (("on", "-o"), ("off", "--x")):
            pts = sorted((r["fault_rate"], r["success_rate"]) for r in table if r["task"] == task and r["critic"] == critic)
            if pts:
                ax.plot(*zip(*pts), style, label=f"{task}, critic {critic}")
    ax.set_xlabel("generator fault rate")
    ax.set_ylabel("task success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title("Success against fault rate")
    fig.tight_layout()
    fig.savefig(out / "success_vs_fault_rate.png", dpi=100)
    plt.close(fig)
    names.append("success_vs_fault_rate.png")

    rates = sorted({r["fault_rate"] for r in table})
    fig, ax = plt.subplots(figsize=(7, 4))
    labels, width = [], 0.38
    for i, (task, rate) in enumerate((t, fr) for t in tasks for fr in rates):
        labels.append(f"{task}\n{rate:g}")
        for j, critic in enumerate(("on", "off")):
            row = next((r for r in table if r["task"] == task and r["fault_rate"] == rate and r["critic"] == critic), None)
            if row:
                ax.bar(i + (j - 0.5) * width, row["success_rate"], width, color=("tab:blue", "tab:orange")[j],
                       label=f"critic {critic}" if i == 0 else None)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("task success rate")
    ax.set_ylim(0, 1.05)
    ax.legend()
    ax.set_title("Critic on vs off (task, fault rate)")
    fig.tight_layout()
    fig.savefig(out / "critic_on_vs_off.png", dpi=100)
    plt.close(fig)
    names.append("critic_on_vs_off.png")
    return names


def write_outputs(out: Path, table: list[dict]) -> None:
    """results.json, results.csv, the two plots and report.md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(table, indent=2), encoding="utf-8")
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in table:
            writer.writerow({**row, "success_ci95": " ".join(map(str, row["success_ci95"]))})
    plots = _plots(out, table) if table else []
    body = ["# Guidance benchmark", "",
            "Teacher planner -> simulated generator (fault model) -> perception critic (or none) -> executor, "
            "in MuJoCo. Fault rate 0 is the oracle generator. Episode i of every configuration uses seed i.", "",
            markdown_table(table), ""] + [f"![{p}]({p})" for p in plots]
    (out / "report.md").write_text("\n".join(body) + "\n", encoding="utf-8")

"""Aggregating bench episodes into rows, and writing results.json, results.csv, plots and report.md."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from interleave_robot.sim_envs.bench_stats import mcnemar_paired, wilson_interval

COLUMNS = ("task", "fault_rate", "critic", "loop", "planner", "generator", "execution_noise", "episodes",
           "success_rate", "success_ci95", "mcnemar_p_vs_no_critic", "mcnemar_p_vs_open_loop",
           "generator_calls_per_step", "critic_rejections_per_step", "accepted_fault_rate", "judge_right_share",
           "judge_agreement", "judge_images", "generator_errors", "replans_per_episode", "errors",
           "seconds_per_episode")
GROUP = ("task", "fault_rate", "critic", "loop", "planner", "generator", "execution_noise")


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a success rate (statsmodels; sound for small n and rates near 0 or 1)."""
    return wilson_interval(successes, n)


def _group_key(row: dict) -> tuple:
    critic = row.get("critic")
    if isinstance(critic, bool):  # rows of benches before critics were named
        critic = "perception" if critic else "none"
    return (row["task"], float(row["fault_rate"]), str(critic), row.get("loop", "open"), row.get("planner", "teacher"),
            row.get("generator", "sim"), float(row.get("execution_noise") or 0.0))


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per configuration (task, fault rate, critic, loop, planner, generator, noise), in
    first-seen order, with paired McNemar p-values against the same configuration without a
    critic and, for closed loop, against open loop (pairs by seed)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(_group_key(r), []).append(r)
    outcome = {key: {r["seed"]: bool(r["success"]) for r in rs} for key, rs in groups.items()}
    table = []
    for key, rs in groups.items():
        config = dict(zip(GROUP, key))
        n = len(rs)
        wins = sum(bool(r["success"]) for r in rs)
        steps = sum(r.get("steps") or 0 for r in rs)
        accepted = [f for r in rs for f in r.get("accepted_faults") or []]
        known = [f for f in accepted if f not in ("?", "missing")]
        judged = [j for r in rs for j in r.get("judge") or []]
        truth = [j for j in judged if j.get("ground_truth_right") is not None]
        lo, hi = wilson(wins, n)
        row = {**config, "episodes": n, "success_rate": round(wins / n, 4), "success_ci95": [round(lo, 3), round(hi, 3)],
               "mcnemar_p_vs_no_critic": None, "mcnemar_p_vs_open_loop": None,
               "generator_calls_per_step": round(sum(r.get("generator_calls") or 0 for r in rs) / max(steps, 1), 3),
               "critic_rejections_per_step": round(sum(r.get("critic_rejections") or 0 for r in rs) / max(steps, 1), 3),
               "accepted_fault_rate": round(sum(f != "none" for f in known) / len(known), 3) if known else None,
               "judge_right_share": round(sum(bool(j["right"]) for j in judged) / len(judged), 3) if judged else None,
               "judge_agreement": (round(sum(bool(j["right"]) == bool(j["ground_truth_right"]) for j in truth)
                                         / len(truth), 3) if truth else None),
               "judge_images": len(judged),
               "generator_errors": sum(r.get("generator_errors") or 0 for r in rs),
               "replans_per_episode": round(sum(r.get("replans") or 0 for r in rs) / n, 3),
               "errors": sum(1 for r in rs if r.get("error")),
               "seconds_per_episode": round(sum(r.get("seconds") or 0.0 for r in rs) / n, 2)}
        control = (key[0], key[1], "none", *key[3:])
        if config["critic"] != "none" and control in outcome:
            row["mcnemar_p_vs_no_critic"] = _p(mcnemar_paired(outcome[key], outcome[control]))
            row["paired_vs_no_critic"] = mcnemar_paired(outcome[key], outcome[control])
        open_key = (*key[:3], "open", *key[4:])
        if config["loop"] == "closed" and open_key in outcome:
            row["mcnemar_p_vs_open_loop"] = _p(mcnemar_paired(outcome[key], outcome[open_key]))
            row["paired_vs_open_loop"] = mcnemar_paired(outcome[key], outcome[open_key])
        row["judge_by_fault"] = _judge_by_fault(rs)
        table.append(row)
    return table


def _judge_by_fault(rows: list[dict]) -> dict:
    """{ground-truth fault of the accepted image: {"images", "judged_right"}}: how the judge sees each fault."""
    counts: dict[str, dict] = {}
    for r in rows:
        for fault, verdict in zip(r.get("accepted_faults") or [], r.get("judge") or []):
            if fault in ("?", "missing"):
                continue
            entry = counts.setdefault(fault, {"images": 0, "judged_right": 0})
            entry["images"] += 1
            entry["judged_right"] += bool(verdict.get("right"))
    return dict(sorted(counts.items()))


def _p(test: dict) -> float:
    return round(test["p_value"], 4)


def _num(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _fmt(row: dict) -> list[str]:
    lo, hi = row["success_ci95"]
    return [row["task"], f"{row['fault_rate']:g}", row["critic"], row["loop"],
            f"{row['planner']}/{row['generator']}", f"{row['execution_noise']:g}", str(row["episodes"]),
            f"{row['success_rate']:.2f} [{lo:.2f}, {hi:.2f}]", _num(row["mcnemar_p_vs_no_critic"], 3),
            _num(row["mcnemar_p_vs_open_loop"], 3), f"{row['generator_calls_per_step']:.2f}",
            f"{row['critic_rejections_per_step']:.2f}", _num(row["accepted_fault_rate"]),
            _num(row["judge_right_share"]), _num(row["judge_agreement"]), str(row["generator_errors"]),
            f"{row['replans_per_episode']:.2f}", str(row["errors"]), f"{row['seconds_per_episode']:.1f}"]


_HEADER = ["task", "fault rate", "critic", "loop", "planner/generator", "noise m", "episodes", "success [95% CI]",
           "p vs no critic", "p vs open", "gen calls/step", "rejections/step", "faulty accepted", "judge: right",
           "judge agrees", "gen errors", "re-plans/ep", "errors", "s/episode"]


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
    variants = list(dict.fromkeys((r["critic"], r["loop"]) for r in table))
    styles = ["-o", "--x", ":s", "-.^", "-d", "--v"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for task in tasks:
        for (critic, loop), style in zip(variants, styles * len(variants)):
            pts = sorted((r["fault_rate"], r["success_rate"]) for r in table
                         if r["task"] == task and (r["critic"], r["loop"]) == (critic, loop))
            if pts:
                ax.plot(*zip(*pts), style, label=f"{task}, critic {critic}, {loop} loop")
    ax.set_xlabel("generator fault rate")
    ax.set_ylabel("task success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=6)
    ax.set_title("Success against fault rate")
    fig.tight_layout()
    fig.savefig(out / "success_vs_fault_rate.png", dpi=100)
    plt.close(fig)
    names.append("success_vs_fault_rate.png")

    rates = sorted({r["fault_rate"] for r in table})
    fig, ax = plt.subplots(figsize=(7, 4))
    labels, width = [], 0.8 / max(len(variants), 1)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for i, (task, rate) in enumerate((t, fr) for t in tasks for fr in rates):
        labels.append(f"{task}\n{rate:g}")
        for j, variant in enumerate(variants):
            row = next((r for r in table if r["task"] == task and r["fault_rate"] == rate
                        and (r["critic"], r["loop"]) == variant), None)
            if row:
                ax.bar(i + (j - (len(variants) - 1) / 2) * width, row["success_rate"], width,
                       color=colors[j % len(colors)], label=f"critic {variant[0]}, {variant[1]}" if i == 0 else None)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("task success rate")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    ax.set_title("Critics and loops (task, fault rate)")
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
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in table:
            writer.writerow({**row, "success_ci95": " ".join(map(str, row["success_ci95"]))})
    plots = _plots(out, table) if table else []
    body = ["# Guidance benchmark", "",
            "Planner -> generator -> critic (or none) -> executor in MuJoCo, per configuration. Fault rate 0 is the "
            "oracle simulated generator. Every configuration runs the same seeds; p-values are McNemar's exact test "
            "on the seed pairs (against no critic, and closed against open loop); intervals are Wilson 95%. "
            "'judge: right' is the privileged simulation judge's share of accepted subgoal images that show the "
            "teacher's goal scene (scoring only); 'judge agrees' its agreement with the simulated generator's exact "
            "ground truth.", "",
            markdown_table(table), ""] + [f"![{p}]({p})" for p in plots]
    (out / "report.md").write_text("\n".join(body) + "\n", encoding="utf-8")

"""Training benchmarks, 1 process against 2 processes side by side in one run:

1. critic-rl dataset build (rows/s), as the recipe builds it (2 attempts per step, realism 1,
   subtle fraction 0.5), large enough that the fixed costs of a build (a child's spawn and
   imports, the final merge) weigh about as they do in the recipe's 1000 episodes; 2 processes
   measured twice: cold (the build starts its own worker, as `data build --workers 2` does)
   and warm (the worker started and its imports done beforehand, timed apart);
2. reward evaluations/s of the simulator terms (regeneration = semantic + quality; and with
   the executor-based task term), both as GRPO calls them (batches of 8 completions:
   2 prompts x 4 answers, one of them a "success" verdict that costs nothing) and as one
   bulk call, on a warm pool (its start-up timed apart);
3. GRPO step time and peak memory on the tiny model (simulator rewards, task term off).

First, a machine check: a pure-Python CPU loop alone and two of them at once in 2 processes,
the ceiling of every 2-process ratio on this machine at this moment.

"2 processes" is this process plus one spawn child (training/workers.share_work: this process
works too). The load average is printed at start and end: on a machine whose cores other
jobs use, the 2-process numbers measure that, not the code. CPU seconds (this process and its
children) are reported beside wall time, so extra work done by 2 processes shows apart
from time lost waiting for a core.

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/bench_training.py --skip-grpo
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")


def _cpu_by_process(pool=None) -> dict:
    """CPU seconds so far: this process ("self"), its reaped children ("reaped": a shut-down pool's)
    and each live child of `pool` (by pid, from /proc)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {"self": own.ru_utime + own.ru_stime, "reaped": kids.ru_utime + kids.ru_stime}
    for pid in getattr(pool, "_processes", None) or {}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            result[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return result


def _cpu_delta(before: dict, after: dict) -> list[float]:
    """CPU seconds per process between two _cpu_by_process readings: this process first."""
    per = [after["self"] - before["self"]]
    per += [after[k] - before.get(k, 0.0) for k in after if k not in ("self", "reaped")]
    if after["reaped"] - before["reaped"] > 0.05:
        per.append(after["reaped"] - before["reaped"])
    return per


# The CPU recipe's build options (training/reproduce.py): 2 attempts per step, editor-realistic images.
RECIPE = {"attempts_per_step": 2, "realism": 1.0, "subtle_fraction": 0.5}


def _spin(n: int) -> float:
    """A pure-Python CPU loop (no memory traffic, no I/O); returns its wall seconds."""
    start, x = time.perf_counter(), 0
    for i in range(n):
        x = (x * 31 + i) % 1_000_003
    return time.perf_counter() - start


def bench_machine(n: int = 6_000_000) -> dict:
    """What 2 processes can get from this machine right now: the same CPU loop alone in one child,
    then in two children at once (x2.0 = two free cores; other jobs or shared cores give less)."""
    from concurrent.futures import wait

    from interleave_robot.training.workers import spawn_pool

    with spawn_pool(2) as pool:
        pool.submit(_spin, n // 20).result()
        alone = pool.submit(_spin, n).result()
        start = time.perf_counter()
        wait([pool.submit(_spin, n) for _ in range(2)])
        both = time.perf_counter() - start
    return {"one_loop_s": round(alone, 2), "two_loops_s": round(both, 2), "speedup": 2 * alone / both}


def _build(tmp: Path, name: str, episodes: int, workers: int, pool=None) -> dict:
    from interleave_robot.training.builders import BuildConfig, build_dataset

    timings = {}
    cpu, start = _cpu_by_process(pool), time.perf_counter()
    build_dataset(BuildConfig(kind="critic-rl", episodes=episodes, seed=0, out=str(tmp / name), workers=workers,
                              **RECIPE), progress=False, timings=timings, pool=pool)
    seconds = time.perf_counter() - start
    per_process = _cpu_delta(cpu, _cpu_by_process(pool))
    merge = timings["merge_s"] + timings["card_s"]
    # On free cores the build would take about its busiest process's CPU time; the merge runs after
    # every process is done, in this one.
    free_cores = max(per_process[0] - merge, *per_process[1:], 0.0) + merge
    units = timings.pop("units")
    busy: dict[int, float] = {}
    for unit in units:
        busy[unit["pid"]] = busy.get(unit["pid"], 0.0) + unit["rollout_s"] + unit["save_s"]
    rows = sum(u["rows"] for u in units)
    return {"rows": rows, "units": len(units), "seconds": round(seconds, 2), "rows_per_s": rows / seconds,
            "shards_s": round(timings["shards_s"], 2), "merge_s": round(timings["merge_s"] + timings["card_s"], 2),
            "busy_s_per_process": sorted((round(b, 2) for b in busy.values()), reverse=True),
            "cpu_s": round(sum(per_process), 2), "cpu_s_per_process": [round(c, 2) for c in per_process],
            "free_cores_s": round(free_cores, 2)}


def bench_build(tmp: Path, episodes: int) -> dict:
    """Rows/s of a critic-rl build: 1 process, 2 processes cold, 2 processes on a warm pool."""
    from interleave_robot.training.builders import build_pool

    # This process's own first use (imports, first MuJoCo model and GL context) is paid here, for both.
    _build(tmp, "warm_up", 4, 1)
    result = {"episodes": episodes, "1_process": _build(tmp, "w1", episodes, 1),
              "2_processes_cold": _build(tmp, "w2_cold", episodes, 2)}
    start = time.perf_counter()
    with build_pool(1) as pool:
        result["pool_start_s"] = round(time.perf_counter() - start, 2)  # spawn + the child's imports
        _build(tmp, "warm_up_pool", 4, 2, pool)  # the child's first MuJoCo model and GL context
        result["2_processes_warm"] = _build(tmp, "w2_warm", episodes, 2, pool)
    base = result["1_process"]
    for key in ("2_processes_cold", "2_processes_warm"):
        result[key]["speedup"] = result[key]["rows_per_s"] / base["rows_per_s"]
        result[key]["free_cores_speedup"] = base["free_cores_s"] / result[key]["free_cores_s"]
    return result


def _rows(data: Path, n: int) -> list[dict]:
    from interleave_robot.training.formatting import load_split

    ds = load_split(data, "train")
    failed = [r for r in ds if not r["success"]]
    return [failed[i % len(failed)] for i in range(n)]


def _answer(success: bool, refine: str) -> str:
    return ('<think>I compare the two images.</think><answer>'
            + json.dumps({"previous_step_success": success, "refine_prompt": refine}) + "</answer>")


KEYS = ("images", "success", "row_seed", "source_snapshot", "gt_snapshot", "subgoal", "task", "step_index",
        "num_steps", "instruction")


def _grpo_batches(data: Path, batches: int) -> list[tuple[list[str], dict]]:
    """GRPO-shaped calls: 2 faulty rows x 4 answers each (3 refine prompts, 1 "success" verdict)."""
    rows = _rows(data, 2 * batches)
    calls = []
    for b in range(batches):
        pair = rows[2 * b:2 * b + 2]
        texts, chosen = [], []
        for r in pair:
            for text in (_answer(False, r["explicit_prompt"]), _answer(False, r["gen_prompt"]),
                         _answer(False, r["explicit_prompt"] + ", carefully"), _answer(True, "")):
                texts.append(text)
                chosen.append(r)
        calls.append((texts, {k: [r[k] for r in chosen] for k in KEYS}))
    return calls


def _bulk(data: Path, n: int) -> tuple[list[str], dict]:
    rows = _rows(data, n)
    texts = [_answer(False, r["explicit_prompt"] if i % 2 else r["gen_prompt"]) for i, r in enumerate(rows)]
    return texts, {k: [r[k] for r in rows] for k in KEYS}


def _evaluate(use_task: bool, workers: int, calls: list, warm: tuple) -> dict:
    from interleave_robot.training.rewards import RewardConfig, SimRewards

    start = time.perf_counter()
    rewards = SimRewards(RewardConfig(use_task=use_task, workers=workers))
    try:
        rewards.all_terms(*warm[:1], **warm[1])  # start the pool and every process's first use
        pool_start = time.perf_counter() - start
        rewards.pool._cache.clear()
        count = sum(sum(1 for t in texts if '"previous_step_success": false' in t) for texts, _ in calls)
        cpu, start = _cpu_by_process(rewards.pool._executor), time.perf_counter()
        for texts, columns in calls:
            rewards.all_terms(texts, **columns)
        seconds = time.perf_counter() - start
        per_process = _cpu_delta(cpu, _cpu_by_process(rewards.pool._executor))
    finally:
        rewards.close()
    return {"regenerations": count, "answers": sum(len(t) for t, _ in calls), "calls": len(calls),
            "seconds": round(seconds, 2), "regenerations_per_s": count / seconds, "cpu_s": round(sum(per_process), 2),
            "cpu_s_per_process": [round(c, 2) for c in per_process], "free_cores_s": round(max(per_process), 2),
            "start_s": round(pool_start, 2)}


def _warm_up(data: Path, per_family: int = 4) -> tuple[list[str], dict]:
    """Faulty rows of distinct episodes, families interleaved, so that every chunk of the warm-up call
    (and so every process) meets every family's env and the executor before the timed calls."""
    from interleave_robot.training.formatting import load_split

    by_family: dict[str, list] = {}
    seen = set()
    for r in load_split(data, "train"):
        if not r["success"] and r["episode_seed"] not in seen and len(by_family.get(r["family"], [])) < per_family:
            seen.add(r["episode_seed"])
            by_family.setdefault(r["family"], []).append(r)
    rows = [group[i] for i in range(per_family) for group in by_family.values() if i < len(group)]
    return [_answer(False, r["explicit_prompt"]) for r in rows], {k: [r[k] for r in rows] for k in KEYS}


def bench_rewards(data: Path, answers: int, task_answers: int) -> dict:
    result = {}
    warm = _warm_up(data)
    for label, use_task, n in (("regeneration", False, answers), ("regeneration+executor", True, task_answers)):
        shapes = {"grpo_batches": _grpo_batches(data, max(1, n // 6)), "bulk": [_bulk(data, n)]}
        for shape, calls in shapes.items():
            row = {w: _evaluate(use_task, w, calls, warm) for w in (1, 2)}
            result[f"{label}, {shape}"] = {"1_process": row[1], "2_processes": row[2],
                                           "speedup": row[2]["regenerations_per_s"] / row[1]["regenerations_per_s"],
                                           "free_cores_speedup": row[1]["free_cores_s"] / row[2]["free_cores_s"]}
    return result


def bench_grpo(data: Path, tmp: Path, steps: int) -> dict:
    """Runs in a fresh spawned process, so its peak RSS is the GRPO run's own (SFT warm-up included)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_grpo_child, (str(data), str(tmp), steps))


def _grpo_child(data: str, tmp: str, steps: int) -> dict:
    data, tmp = Path(data), Path(tmp)
    return _bench_grpo(data, tmp, steps)


def _bench_grpo(data: Path, tmp: Path, steps: int) -> dict:
    from interleave_robot.training.grpo import run_grpo
    from interleave_robot.training.recipes import GRPORecipe, SFTRecipe
    from interleave_robot.training.sft import run_sft

    tiny = {"hidden_size": 96, "num_layers": 3, "num_heads": 4, "num_kv_heads": 2, "intermediate_size": 256,
            "vision_depth": 2, "vision_embed_dim": 64, "vision_heads": 4, "patch_size": 8, "image_side": 64,
            "vocab_size": 768}
    template = str(Path(__file__).resolve().parents[1] / "configs" / "templates" / "critic_tiny.txt")
    prompts = {"critic_template": template, "answer_style": "positions"}
    run_sft(SFTRecipe(model={"path": str(tmp / "init"), "build_tiny": tiny}, data=str(data),
                      output_dir=str(tmp / "sft"), max_steps=20, batch_size=8, learning_rate=2e-3, prompts=prompts,
                      logging_steps=10))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    metrics = run_grpo(GRPORecipe(model={"path": str(tmp / "sft" / "model")}, data=str(data),
                                  output_dir=str(tmp / "grpo"), max_steps=steps, batch_size=8, num_generations=4,
                                  max_completion_length=80, logging_steps=1, prompts=prompts,
                                  rewards={"use_task": False, "workers": 1}))
    times = [h["step_time"] for h in metrics["log_history"] if "step_time" in h]
    return {"steps": steps, "batch": "2 prompts x 4 generations", "max_completion_length": 80,
            "mean_step_s": sum(times) / len(times), "step_s": [round(t, 3) for t in times],
            "peak_rss_mb_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_rss_mb_after_sft_warmup": rss_before / 1024}


def report(results: dict) -> str:
    b, m = results["build"], results["machine"]
    lines = [f"load average {results['load_average_start']:.1f} at start, {results['load_average_end']:.1f} at end "
             f"({os.cpu_count()} CPUs)",
             f"machine check: a pure-Python CPU loop took {m['one_loop_s']} s alone, {m['two_loops_s']} s for two "
             f"at once in 2 processes: x{m['speedup']:.2f} (the most any 2-process row below can reach now)", "",
             f"critic-rl build, {b['episodes']} episodes as the recipe builds them (2 attempts per step, realism 1, "
             f"subtle fraction 0.5; {b['1_process']['rows']} rows):",
             "| processes | seconds | rows/s | speedup | merge s | busy s per process | CPU s per process | "
             "on free cores (est.) |",
             "|---|---|---|---|---|---|---|---|"]
    for key, label in (("1_process", "1"), ("2_processes_cold", "2, cold (starts its worker)"),
                       ("2_processes_warm", f"2, warm (pool start {b['pool_start_s']} s apart)")):
        r = b[key]
        est = f"{r['free_cores_s']} s" + (f" (x{r['free_cores_speedup']:.2f})" if "speedup" in r else "")
        lines.append(f"| {label} | {r['seconds']} | {r['rows_per_s']:.1f} | "
                     f"{'x%.2f' % r['speedup'] if 'speedup' in r else '-'} | {r['merge_s']} | "
                     f"{', '.join(map(str, r['busy_s_per_process']))} | "
                     f"{', '.join(map(str, r['cpu_s_per_process']))} | {est} |")
    lines += ["busy s: wall seconds each process spent building (a cold child starts later, so builds less); "
              "CPU s per process: this process first (merge included), then the child (a cold child's spawn and "
              "imports included); on free cores (est.): the busiest process's CPU seconds plus the merge, what the "
              "build would take with a free core per process (a load-independent estimate, not a measurement)",
              "", "reward evaluations (regenerations/s; warm pools, start-up apart):",
              "| work, call shape | regenerations | 1 process /s | 2 processes /s | speedup | CPU s per process (1; 2) "
              "| on free cores (est.) | start s (1, 2) |",
              "|---|---|---|---|---|---|---|---|"]
    for label, row in results["rewards"].items():
        one, two = row["1_process"], row["2_processes"]
        lines.append(f"| {label} | {one['regenerations']} in {one['calls']} calls | {one['regenerations_per_s']:.1f} | "
                     f"{two['regenerations_per_s']:.1f} | x{row['speedup']:.2f} | {one['cpu_s_per_process'][0]}; "
                     f"{', '.join(map(str, two['cpu_s_per_process']))} | x{row['free_cores_speedup']:.2f} | "
                     f"{one['start_s']}, {two['start_s']} |")
    lines.append("grpo_batches: calls of 8 answers (2 faulty rows x 3 refine prompts + 1 \"success\" verdict, which "
                 "costs nothing), as GRPO scores a step; bulk: one call; on free cores (est.): 1 process's CPU "
                 "seconds over the busier of the 2 processes'; start s: pool start and first use, not timed")
    g = results.get("grpo")
    if g:
        lines += ["", f"GRPO step (tiny model, 8 completions): {g['mean_step_s']:.2f} s; peak RSS of the training "
                      f"process {g['peak_rss_mb_process']:.0f} MB ({g['peak_rss_mb_after_sft_warmup']:.0f} MB before GRPO)"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=256, help="episodes per build (the recipe builds 1000)")
    parser.add_argument("--answers", type=int, default=144, help="regenerations per reward measurement")
    parser.add_argument("--task-answers", type=int, default=48, help="regenerations with the executor")
    parser.add_argument("--grpo-steps", type=int, default=5)
    parser.add_argument("--skip-grpo", action="store_true", help="only the data and reward benchmarks")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = {"load_average_start": os.getloadavg()[0]}
    print(f"machine: {os.cpu_count()} CPU(s), load average {results['load_average_start']:.1f} at start",
          file=sys.stderr)
    results["machine"] = bench_machine()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results["build"] = bench_build(tmp, args.episodes)
        data = tmp / "w1"
        results["rewards"] = bench_rewards(data, args.answers, args.task_answers)
        if not args.skip_grpo:
            results["grpo"] = bench_grpo(data, tmp, args.grpo_steps)
    results["load_average_end"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

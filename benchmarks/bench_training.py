"""Training benchmarks, measured side by side in one run:

1. dataset build rows/s (critic-rl), 1 worker vs 2 workers;
2. reward evaluations/s (semantic + quality by regeneration; and with the executor-based task
   term), sequential (1 process) vs parallel (2 processes);
3. GRPO step time and peak memory on the tiny model (simulator rewards, task term off).

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/bench_training.py [--episodes 8] [--answers 32]
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


def bench_build(tmp: Path, episodes: int) -> dict:
    """Rows/s of a critic-rl build, 1 vs 2 workers (shards cut so both workers have work), and the
    pool's own start-up (spawn + imports in the children) timed apart."""
    from interleave_robot.training.builders import BuildConfig, build_dataset
    from interleave_robot.training.formatting import load_split
    from interleave_robot.training.workers import spawn_pool

    start = time.perf_counter()
    spawn_pool(2).shutdown()
    result = {"pool_start_s": round(time.perf_counter() - start, 2)}
    for workers in (1, 2):
        out = tmp / f"data_w{workers}"
        start = time.perf_counter()
        build_dataset(BuildConfig(kind="critic-rl", episodes=episodes, seed=0, out=str(out), workers=workers,
                                  shard_episodes=max(1, episodes // 8), attempts_per_step=2), progress=False)
        seconds = time.perf_counter() - start
        rows = len(load_split(out, "train")) + len(load_split(out, "test"))
        result[f"workers_{workers}"] = {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": rows / seconds}
    result["speedup"] = result["workers_2"]["rows_per_s"] / result["workers_1"]["rows_per_s"]
    return result


def _answers(data: Path, n: int):
    from interleave_robot.training.formatting import load_split

    ds = load_split(data, "train")
    rows = [r for r in ds if not r["success"]][:n]
    answers = ['<think>I compare the two images.</think><answer>' + json.dumps(
        {"previous_step_success": False, "refine_prompt": r["explicit_prompt"]}) + "</answer>" for r in rows]
    keys = ("images", "success", "row_seed", "source_snapshot", "gt_snapshot", "subgoal", "task", "step_index",
            "num_steps", "instruction")
    return answers, {k: [r[k] for r in rows] for k in keys}


def bench_rewards(data: Path, n: int, n_task: int) -> dict:
    from interleave_robot.training.rewards import RewardConfig, SimRewards

    result = {}
    for label, use_task, count in (("regeneration", False, n), ("regeneration+executor", True, n_task)):
        answers, columns = _answers(data, count)
        row = {}
        for workers in (1, 2):
            rewards = SimRewards(RewardConfig(use_task=use_task, workers=workers))
            try:
                # Warm-up: start every worker (each builds its MuJoCo scene and GL context once).
                warm = 2 * workers
                rewards.all_terms(answers[:warm], **{k: v[:warm] for k, v in columns.items()})
                rewards.pool._cache.clear()
                start = time.perf_counter()
                rewards.all_terms(answers, **columns)
                seconds = time.perf_counter() - start
            finally:
                rewards.close()
            row[f"workers_{workers}"] = {"evaluations": len(answers), "seconds": round(seconds, 2),
                                         "evals_per_s": len(answers) / seconds}
        row["speedup"] = row["workers_2"]["evals_per_s"] / row["workers_1"]["evals_per_s"]
        result[label] = row
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=48)
    parser.add_argument("--answers", type=int, default=32)
    parser.add_argument("--task-answers", type=int, default=8)
    parser.add_argument("--grpo-steps", type=int, default=5)
    parser.add_argument("--skip-grpo", action="store_true", help="only the data and reward benchmarks")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at start", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {"build": bench_build(tmp, args.episodes)}
        data = tmp / "data_w1"
        results["rewards"] = bench_rewards(data, args.answers, args.task_answers)
        if not args.skip_grpo:
            results["grpo"] = bench_grpo(data, tmp, args.grpo_steps)
    results["load_average_end"] = os.getloadavg()[0]
    json.dump(results, sys.stdout, indent=2)
    b, r, g = results["build"], results["rewards"], results.get("grpo")
    print(f"\n\ndataset build: {b['workers_1']['rows_per_s']:.1f} rows/s (1 worker), "
          f"{b['workers_2']['rows_per_s']:.1f} rows/s (2 workers): x{b['speedup']:.2f} "
          f"(pool start-up alone {b['pool_start_s']} s)")
    for label, row in r.items():
        print(f"rewards ({label}): {row['workers_1']['evals_per_s']:.2f}/s sequential, "
              f"{row['workers_2']['evals_per_s']:.2f}/s on 2 processes: x{row['speedup']:.2f}")
    if g:
        print(f"GRPO step (tiny model, 8 completions): {g['mean_step_s']:.2f} s; peak RSS of the training process "
              f"{g['peak_rss_mb_process']:.0f} MB ({g['peak_rss_mb_after_sft_warmup']:.0f} MB before GRPO started)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

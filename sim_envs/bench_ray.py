"""Bench episodes on a Ray cluster (`bench --workers ray [--ray-address ADDR]`, the `ray` extra).

One actor per CPU of the cluster, each holding its own EpisodeRunner (MuJoCo model, GL
contexts, agents), exactly like a local worker process; the episodes are the same function
(`bench_cmd.run_job`), so the same seeds give the same rows as local processes. Without an
address a local Ray instance is started (and stopped afterwards) with the machine's CPUs.
"""
from __future__ import annotations

from typing import Callable

from interleave_robot.errors import ConfigError

# ray is imported inside run_on_ray: a heavy optional stack (the `ray` extra).


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("bench --workers ray needs Ray: pip install 'interleave-robot[ray]'") from None
    return ray


def run_on_ray(todo: list[dict], run_job: Callable[[dict], dict], record: Callable[[dict], None],
               address: str | None = None, num_cpus: int | None = None) -> None:
    """Run every job with `run_job` on Ray actors (shipped by reference: a module-level function),
    passing each finished row to `record` (in completion order)."""
    if not todo:
        return
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        except ConnectionError as exc:
            raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
    try:
        actors = max(1, min(len(todo), int(ray.cluster_resources().get("CPU", 1))))

        @ray.remote(num_cpus=1)
        class EpisodeWorker:
            def run(self, job: dict) -> dict:
                return run_job(job)

        from ray.util import ActorPool

        pool = ActorPool([EpisodeWorker.remote() for _ in range(actors)])
        for row in pool.map_unordered(lambda actor, job: actor.run.remote(job), todo):
            record(row)
    finally:
        if started:
            ray.shutdown()

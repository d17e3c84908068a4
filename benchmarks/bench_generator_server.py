"""The generator server's old configuration against the bounded one, side by side in one run.

Two server processes run at once, serving an instant generator (the scripted "echo" on a
64x64 image): "old" is GeneratorServer built with the parameters the server had before
issue 8 (listen backlog 5, no cap on connections or concurrent requests, no request
deadline); "new" is the default ServerOptions (backlog 128, 256 connections, 8 concurrent
requests with 503 + Retry-After past them, 10 s header and 30 s body deadlines). The old behaviour is
reachable only here, by constructing the server with those parameters.

For each concurrency C (1, 8, 64, 200) C client threads start together at a barrier and each
sends `--per-client` POST /edit requests, each on a fresh connection (a burst of independent
clients, the case that overflows a small backlog). Old and new alternate, `--repeats` rounds
each. Reported per server and C: answered requests/s (200s over the round's wall time),
p50/p99 latency of the answered requests, and how many were refused with 503 or failed
(connection reset/refused/timeout).

    python benchmarks/bench_generator_server.py [--clients 1,8,64,200] [--per-client 5] [--repeats 3]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np

OLD = {"backlog": 5, "max_connections": 1_000_000, "max_concurrent_requests": 1_000_000,
       "queue_timeout_s": 1e9, "header_timeout_s": 1e9, "request_timeout_s": 1e9}


def serve(kind: str) -> None:
    """Child process: serve the echo generator with the `kind` options; print the port."""
    from interleave_robot.backends.scripted import EchoGenerator, EchoGeneratorConfig
    from interleave_robot.generator_server import GeneratorServer, ServerOptions

    options = ServerOptions(port=0, **(OLD if kind == "old" else {}))
    server = GeneratorServer(EchoGenerator(EchoGeneratorConfig()), "echo", options)
    print(server.url.rsplit(":", 1)[1], flush=True)
    server.serve_forever()


def start(kind: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    return proc, int(proc.stdout.readline())


def one_request(port: int, body: bytes) -> tuple[str, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/edit", body=body, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        outcome = str(reply.status)
    except (OSError, http.client.HTTPException) as exc:
        outcome = type(exc).__name__
    finally:
        conn.close()
    return outcome, time.perf_counter() - t0


def burst(port: int, clients: int, per_client: int, body: bytes) -> dict:
    barrier = threading.Barrier(clients + 1)
    results: list[tuple[str, float]] = []
    lock = threading.Lock()

    def client():
        barrier.wait()
        mine = [one_request(port, body) for _ in range(per_client)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = sorted(lat for outcome, lat in results if outcome == "200")
    outcomes: dict[str, int] = {}
    for outcome, _ in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"rps": len(ok) / wall, "p50": _pct(ok, 50), "p99": _pct(ok, 99), "ok": len(ok),
            "refused": outcomes.get("503", 0), "failed": len(results) - len(ok) - outcomes.get("503", 0),
            "total": len(results), "outcomes": outcomes}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=("old", "new"), help=argparse.SUPPRESS)
    parser.add_argument("--clients", default="1,8,64,200")
    parser.add_argument("--per-client", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    from interleave_robot.images import image_to_base64

    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    body = json.dumps({"image": image_to_base64(image), "prompt": "move the red block", "seed": 1}).encode()
    servers = {kind: start(kind) for kind in ("old", "new")}
    try:
        for _, port in servers.values():
            burst(port, 4, 5, body)  # warm-up
        rows = []
        for clients in [int(c) for c in args.clients.split(",")]:
            rounds = {kind: [] for kind in servers}
            for _ in range(args.repeats):
                for kind, (_, port) in servers.items():  # old and new alternate: same load on the machine
                    rounds[kind].append(burst(port, clients, args.per_client, body))
                    time.sleep(0.5)  # let TIME_WAIT and retransmits settle between rounds
            for kind, runs in rounds.items():
                rows.append((clients, kind, runs))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
    print(f"instant echo generator, 64x64 PNG, fresh connection per request, {args.per_client} requests per client, "
          f"median of {args.repeats} rounds (failed/refused: totals over the rounds)")
    print("| clients | server | answered req/s | p50 ms | p99 ms | answered | 503 | failed (reset/timeout) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for clients, kind, runs in rows:
        med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
        ok, refused, failed, total = (sum(r[k] for r in runs) for k in ("ok", "refused", "failed", "total"))
        print(f"| {clients} | {kind} | {med['rps']:.0f} | {med['p50']:.1f} | {med['p99']:.1f} | {ok}/{total} | "
              f"{refused} | {failed} |")
    failures = {}
    for clients, kind, runs in rows:
        kinds = Counter()
        for r in runs:
            kinds.update({o: n for o, n in r["outcomes"].items() if o not in ("200", "503")})
        if kinds:
            failures[f"{clients} {kind}"] = dict(kinds)
    print("failure kinds:", failures or "none")


if __name__ == "__main__":
    main()

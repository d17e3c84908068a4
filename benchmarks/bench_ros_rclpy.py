"""Camera 640x480 rgb8 -> guidance node -> subgoal image, over real rclpy and over Cyclone DDS-direct.

Run inside a loopback-only network namespace (as root):

    unshare -n sh -c 'ip link set lo up; OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ros_rclpy.py'

Side by side in one run, each with the node in its own process and the client in this one:
- bare rclpy:  client -> rclpy echo process -> client (one Image out, the same Image back);
- rclpy:       client (rclpy) -> `guidance_node` (rclpy) -> client;
- cyclone:     client (Cyclone) -> `interleave-robot-node guidance` (Cyclone DDS-direct) -> client;
- mixed:       Cyclone client -> rclpy node, and rclpy client -> DDS-direct node.
Each iteration publishes a fresh frame (sensor-data QoS, as a camera) and a task, and waits for
the subgoal image (static planner, one step, echo generator, always-accept critic: the node's
own cost, no model); latency is publish-to-receipt of that image, p50/p99 over --n
iterations; the rate is fresh answers per second, back to back. `lost`: no answer within 3 s;
`stale`: the answer came from an older frame (the node keeps the latest frame it received,
so a frame lost on the way in shows as a stale answer). Node overhead = guidance p50 minus
bare p50 (the same image makes the same two hops in both).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

ECHO = """
import sys, rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("bench_echo")
pub = node.create_publisher(Image, "/bench/echo_out", 10)
node.create_subscription(Image, "/bench/echo_in", pub.publish, qos_profile_sensor_data)
print("ready", flush=True)
rclpy.spin(node)
"""
NODE_PARAMS = {"planner_options": json.dumps({"steps": ["move the block"]}), "loop": "open", "frame_wait_s": 2.0}


def _ros_arg(name, value):
    return ["-p", f"{name}:='{value}'" if isinstance(value, str) else f"{name}:={value}"]


def start(kind: str, domain: int) -> subprocess.Popen:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), OMP_NUM_THREADS="1")
    if kind == "echo":
        cmd = [sys.executable, "-c", ECHO]
    elif kind == "rclpy":
        cmd = [str(Path(sys.executable).parent / "guidance_node"), "--ros-args"]
        for k, v in NODE_PARAMS.items():
            cmd += _ros_arg(k, v)
    else:
        cmd = [sys.executable, "-m", "interleave_robot.ros_nodes.dds_main", "guidance", "--loopback",
               "--domain-id", str(domain)] + sum((["-p", f"{k}:={v}"] for k, v in NODE_PARAMS.items()), [])
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Client:
    """Camera + task out, subgoal image in, on one transport (rclpy or Cyclone)."""

    def __init__(self, kind: str, domain: int, echo: bool = False):
        from interleave_robot.ros_nodes import qos
        from interleave_robot.ros_nodes.messages import Image, String

        self.kind, self._rclpy = kind, None
        if kind == "rclpy":
            import rclpy
            from rclpy.executors import SingleThreadedExecutor

            from interleave_robot.ros_nodes.transport_rclpy import RclpyTransport

            self.context = rclpy.Context()
            rclpy.init(context=self.context, domain_id=domain)
            self.node = rclpy.create_node("bench_client", context=self.context)
            self.transport = RclpyTransport(self.node)
            self.executor = SingleThreadedExecutor(context=self.context)
            self.executor.add_node(self.node)
            threading.Thread(target=self.executor.spin, daemon=True).start()
        else:
            from interleave_robot.ros_nodes.transport_dds import DDSConfig, DDSTransport

            self.transport = DDSTransport(DDSConfig(domain_id=domain, loopback=True))
        self._cond = threading.Condition()
        self._got: list[float] = []
        t = self.transport
        if echo:
            self.camera = t.publisher("/bench/echo_in", Image, qos.SENSOR_DATA)
            self.inbox = t.subscribe("/bench/echo_out", Image, qos.RELIABLE, self._on_image)
            self.task = None
        else:
            self.camera = t.publisher("/camera/image_raw", Image, qos.SENSOR_DATA)
            self.task = t.publisher("/interleave/task", String, qos.RELIABLE)
            self.inbox = t.subscribe("/interleave/subgoal/image", Image, qos.RELIABLE, self._on_image)
            self.status = t.subscribe("/interleave/status", String, qos.RELIABLE, lambda m: None)

    def _on_image(self, msg) -> None:
        now = time.perf_counter()
        tag = bytes(msg.data[len(msg.data) - msg.step: len(msg.data) - msg.step + 1])[0]  # first byte, last row
        with self._cond:
            self._got.append((now, tag))
            self._cond.notify_all()

    def ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        endpoints = [self.camera, self.inbox] + ([self.task, self.status] if self.task else [])
        while any(e.matched_count() == 0 for e in endpoints):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        time.sleep(1.0)  # the other direction of discovery
        return True

    def once(self, frame, tag: int, timeout: float) -> tuple[float | None, bool]:
        """-> (latency or None when nothing came back, whether the answer was made from THIS
        frame: the node answers from its latest frame, an older one when this one was lost)."""
        from interleave_robot.ros_nodes.messages import String

        with self._cond:
            seen = len(self._got)
        t0 = time.perf_counter()
        self.camera.publish(frame)
        if self.task is not None:
            self.task.publish(String("move the block"))
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._got) > seen, timeout):
                return None, False
            when, got_tag = self._got[seen]
            return when - t0, got_tag == tag

    def close(self) -> None:
        if self.kind == "rclpy":
            self.executor.shutdown(timeout_sec=2)
            self.node.destroy_node()
            self.context.try_shutdown()
        else:
            self.transport.close()


def measure(name: str, client_kind: str, node_kind: str, domain: int, n: int, frame_array) -> dict:
    from interleave_robot.ros_nodes.conversion import make_header, numpy_to_image

    proc = start(node_kind, domain)
    client = Client(client_kind, domain, echo=node_kind == "echo")
    row = {"setup": name, "client": client_kind, "node": node_kind, "n": n}
    try:
        if not client.ready():
            return row | {"error": "no discovery within 30 s"}
        def frame(k):  # the bottom row carries the iteration (the echo generator keeps it)
            tagged = frame_array.copy()
            tagged[-1, :, :] = k % 251
            return numpy_to_image(tagged, make_header(time.time(), "cam")), k % 251

        for k in range(3):  # warm-up
            client.once(*frame(200 + k), 5.0)
        latencies, lost, stale, t0 = [], 0, 0, time.perf_counter()
        for k in range(n):
            value, fresh = client.once(*frame(k), 3.0)
            if value is None:
                lost += 1
            elif not fresh:
                stale += 1  # answered from an older frame: this frame was lost on the way in
            else:
                latencies.append(value)
        wall = time.perf_counter() - t0
        if latencies:
            ms = np.array(latencies) * 1e3
            row.update(p50_ms=round(float(np.percentile(ms, 50)), 2), p99_ms=round(float(np.percentile(ms, 99)), 2),
                       rate_hz=round(len(latencies) / wall, 1))
        row.update(lost=lost, stale=stale)
        return row
    finally:
        client.close()
        proc.send_signal(2)  # SIGINT, as Ctrl-C
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="iterations per setup (default 100)")
    parser.add_argument("--domain", type=int, default=77)
    parser.add_argument("--only", default="", help="comma-separated setup numbers to run (default all: 0-4)")
    parser.add_argument("--fastdds-profile", default=str(ROOT / "launch" / "fastdds_large_data.xml"),
                        help="FASTRTPS_DEFAULT_PROFILES_FILE for every Fast DDS participant ('' for none)")
    args = parser.parse_args(argv)
    if args.fastdds_profile:
        os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = args.fastdds_profile
    frame = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    setups = [("bare rclpy pub/sub (echo)", "rclpy", "echo"), ("rclpy <-> rclpy node", "rclpy", "rclpy"),
              ("cyclone <-> DDS-direct node", "cyclone", "dds"), ("cyclone -> rclpy node (mixed)", "cyclone", "rclpy"),
              ("rclpy -> DDS-direct node (mixed)", "rclpy", "dds")]
    rows = []
    chosen = {int(k) for k in args.only.split(",") if k} or set(range(len(setups)))
    for k, (name, client, node) in enumerate(setups):
        if k not in chosen:
            continue
        rows.append(measure(name, client, node, args.domain + k, args.n, frame))
        print(json.dumps(rows[-1]), flush=True)
    bare = next((r.get("p50_ms") for r in rows if r["node"] == "echo"), None)
    print(f"\n{'setup':36} {'p50 ms':>8} {'p99 ms':>8} {'rate/s':>7} {'lost':>5} {'stale':>5}  "
          "node overhead (p50 - bare p50)")
    for row in rows:
        over = "" if bare is None or "p50_ms" not in row or row["node"] == "echo" else f"{row['p50_ms'] - bare:+.2f} ms"
        print(f"{row['setup']:36} {row.get('p50_ms', '-'):>8} {row.get('p99_ms', '-'):>8} {row.get('rate_hz', '-'):>7} "
              f"{row.get('lost', '-'):>5} {row.get('stale', '-'):>5}  {over}{row.get('error', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

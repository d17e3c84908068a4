"""ROS wire benchmarks: image serialization, DDS throughput/latency, guidance-node overhead.

    python benchmarks/bench_ros_wire.py [--seconds 3] [--width 640 --height 480]

Measured side by side in one run:
1. 640x480 rgb8 sensor_msgs/Image CDR: Cyclone's element-by-element sequence<uint8> code
   vs our bulk byte machine (bytes checked identical).
2. The DDS path (our Transport + messages + numpy conversion on receipt) vs a bare Cyclone
   DDS writer/reader moving the same bytes, publisher and subscriber in two processes on
   127.0.0.1: messages/s unthrottled, and p50/p99 latency at a paced 100 Hz.
3. The guidance node's overhead per accepted step outside model time (scripted backends).
"""
# No `from __future__ import annotations`: Cyclone resolves IDL field annotations at runtime.
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

DOMAIN = 200 + os.getpid() % 30
MESSAGE_KB = -1  # DDSConfig.max_message_kb: -1 is the loopback default (64 kB datagrams)
QOS = "reliable"  # the wire profile of the image topic: reliable, or sensor_data (best effort, as cameras)


def _bare_types():
    from dataclasses import dataclass

    from cyclonedds.idl import IdlStruct
    from cyclonedds.idl.types import int64, sequence, uint8

    from interleave_robot.ros_nodes.messages import _bulk_uint8

    @dataclass
    class Blob(IdlStruct, typename="bench::Blob"):
        stamp_ns: int64
        data: sequence[uint8]

    return _bulk_uint8(Blob, "data")


def _transport():
    from interleave_robot.ros_nodes.transport_dds import DDSConfig, DDSTransport

    return DDSTransport(DDSConfig(domain_id=DOMAIN, loopback=True, max_message_kb=MESSAGE_KB))


def subscriber(kind: str, seconds: float) -> None:
    """Child process: receive for `seconds` after the first message, print counts and latencies."""
    latencies, first = [], []

    def note(stamp_ns: int) -> None:
        now = time.time_ns()
        first or first.append(time.perf_counter())
        latencies.append((now - stamp_ns) / 1e6)

    if kind == "ours":
        from interleave_robot.ros_nodes import qos
        from interleave_robot.ros_nodes.conversion import image_to_numpy
        from interleave_robot.ros_nodes.messages import Image

        t = _transport()
        t.subscribe("/bench/image", Image, qos.profile(QOS),
                    lambda m: (image_to_numpy(m), note(m.header.stamp.to_nanoseconds())))
    else:
        from cyclonedds.core import Listener
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        from interleave_robot.ros_nodes import qos
        from interleave_robot.ros_nodes.transport_dds import _cyclone_qos

        _transport()  # configures the loopback domain
        Blob = _bare_types()
        dp = DomainParticipant(DOMAIN)

        def on_data(reader):
            if reader is None:  # data before DataReader() returned: nothing is published yet
                return
            for s in reader.take(64):
                np.frombuffer(s.data, np.uint8)
                note(s.stamp_ns)

        listener = Listener(on_data_available=on_data)
        topic = Topic(dp, "bench_blob", Blob)
        reader = DataReader(dp, topic, _cyclone_qos(qos.profile(QOS)), listener=listener)  # noqa: F841 (kept alive)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds * 4 + 30
    while time.monotonic() < deadline and (not first or time.perf_counter() - first[0] < seconds):
        time.sleep(0.01)
    print(json.dumps({"latencies_ms": latencies}), flush=True)


def run_wire(kind: str, seconds: float, image: np.ndarray, rate_hz: float | None) -> dict:
    child = subprocess.Popen([sys.executable, __file__, "--child", kind, "--seconds", str(seconds),
                              "--domain", str(DOMAIN), "--max-message-kb", str(MESSAGE_KB), "--qos", QOS],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    from interleave_robot.ros_nodes import qos

    if kind == "ours":
        from interleave_robot.ros_nodes.conversion import make_header, numpy_to_image
        from interleave_robot.ros_nodes.messages import Image

        t = _transport()
        pub = t.publisher("/bench/image", Image, qos.profile(QOS))
        send = lambda: pub.publish(numpy_to_image(image, make_header(time.time_ns() * 1e-9)))  # noqa: E731
        matched = pub.matched_count
    else:
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.pub import DataWriter
        from cyclonedds.topic import Topic

        from interleave_robot.ros_nodes.transport_dds import _cyclone_qos

        _transport()
        Blob = _bare_types()
        dp = DomainParticipant(DOMAIN)
        topic = Topic(dp, "bench_blob", Blob)
        writer = DataWriter(dp, topic, _cyclone_qos(qos.profile(QOS)))
        payload = image.tobytes()
        send = lambda: writer.write(Blob(stamp_ns=time.time_ns(), data=payload))  # noqa: E731
        matched = lambda: len(writer.get_matched_subscriptions())  # noqa: E731
    deadline = time.monotonic() + 30
    while matched() == 0:
        if time.monotonic() > deadline:
            child.kill()
            raise RuntimeError(f"{kind}: the subscriber process did not match within 30 s")
        time.sleep(0.01)
    time.sleep(0.3)
    sent, start = 0, time.perf_counter()
    while child.poll() is None and time.perf_counter() - start < seconds * 4 + 20:
        send()
        sent += 1
        if rate_hz:
            next_at = start + sent / rate_hz
            time.sleep(max(0.0, next_at - time.perf_counter()))
        if time.perf_counter() - start > seconds + 1:
            break
    out, _ = child.communicate(timeout=60)
    latencies = np.array(json.loads(out.strip().splitlines()[-1])["latencies_ms"])
    elapsed = min(seconds, time.perf_counter() - start)
    return {"received": len(latencies), "msg_per_s": len(latencies) / max(elapsed, 1e-9),
            "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99))}


def bench_serialization(image: np.ndarray, repeats: int = 20) -> dict:
    from dataclasses import dataclass

    from cyclonedds.idl import IdlStruct
    from cyclonedds.idl.types import sequence, uint8, uint32

    from interleave_robot.ros_nodes.conversion import numpy_to_image
    from interleave_robot.ros_nodes.messages import Header

    @dataclass
    class NaiveImage(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
        header: Header
        height: uint32
        width: uint32
        encoding: str
        is_bigendian: uint8
        step: uint32
        data: sequence[uint8]

    bulk = numpy_to_image(image)
    naive = NaiveImage(bulk.header, bulk.height, bulk.width, bulk.encoding, 0, bulk.step, list(bulk.data))
    assert naive.serialize() == bulk.serialize(), "bulk bytes differ from the sequence<uint8> bytes"

    def timed(fn, n):
        fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1e3

    naive_ms = timed(naive.serialize, max(2, repeats // 10))
    bulk_ms = timed(bulk.serialize, repeats)
    return {"naive_ms": naive_ms, "bulk_ms": bulk_ms, "speedup": naive_ms / bulk_ms, "identical_bytes": True}


def bench_node_overhead(image: np.ndarray, steps: int = 20) -> dict:
    """Per-step time the guidance node spends outside the backends: image -> message, publishes,
    status; with echo/always/static backends (model time ~0) on a loopback participant."""
    import threading

    from interleave_robot.backends.scripted import (AlwaysCritic, AlwaysCriticConfig, EchoGenerator,
                                                    EchoGeneratorConfig, StaticPlanner, StaticPlannerConfig)
    from interleave_robot.pipeline import GuidancePipeline
    from interleave_robot.ros_nodes import qos
    from interleave_robot.ros_nodes.conversion import numpy_to_image
    from interleave_robot.ros_nodes.guidance_logic import GuidanceLogic, GuidanceNodeConfig
    from interleave_robot.ros_nodes.messages import Image, String

    t = _transport()
    pipeline = GuidancePipeline(StaticPlanner(StaticPlannerConfig(steps=[f"step {i}" for i in range(steps)])),
                                EchoGenerator(EchoGeneratorConfig(draw=False)), AlwaysCritic(AlwaysCriticConfig()))
    config = GuidanceNodeConfig(camera_topic="/b/cam", task_topic="/b/task", plan_topic="/b/plan",
                                subgoal_image_topic="/b/img", subgoal_text_topic="/b/txt", status_topic="/b/status")
    logic = GuidanceLogic(t, pipeline, config).start()
    done = threading.Event()
    got = []
    t.subscribe("/b/img", Image, qos.RELIABLE, got.append)
    t.subscribe("/b/status", String, qos.RELIABLE,
                lambda m: done.set() if json.loads(m.data)["event"] == "finished" else None)
    cam, task = t.publisher("/b/cam", Image, qos.SENSOR_DATA), t.publisher("/b/task", String, qos.RELIABLE)
    cam.publish(numpy_to_image(image))
    time.sleep(0.2)
    t0 = time.perf_counter()
    task.publish(String("bench"))
    done.wait(60)
    total = time.perf_counter() - t0
    logic.close()
    overhead = np.array(logic.overhead_s) * 1e3
    return {"steps": steps, "received": len(got), "overhead_ms_mean": float(overhead.mean()),
            "overhead_ms_p99": float(np.percentile(overhead, 99)), "run_ms_per_step": total / steps * 1e3}


def main() -> int:
    global DOMAIN, MESSAGE_KB, QOS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--child", choices=["ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--domain", type=int, default=DOMAIN, help="DDS domain id (loopback only)")
    parser.add_argument("--max-message-kb", type=int, default=-1,
                        help="DDS datagram size in kB (-1: the loopback default, 64; 0: Cyclone's default)")
    parser.add_argument("--qos", default="reliable", choices=["reliable", "sensor_data"],
                        help="QoS of the image topic (sensor_data: best effort keep last 5, as a camera)")
    args = parser.parse_args()
    DOMAIN, MESSAGE_KB, QOS = args.domain, args.max_message_kb, args.qos
    if args.child:
        subscriber(args.child, args.seconds)
        return 0
    image = np.random.default_rng(0).integers(0, 256, size=(args.height, args.width, 3), dtype=np.uint8)
    results = {"image": f"{args.width}x{args.height} rgb8", "max_message_kb": MESSAGE_KB, "qos": QOS,
               "serialization": bench_serialization(image)}
    s = results["serialization"]
    print(f"serialize {results['image']}: naive sequence<uint8> {s['naive_ms']:.2f} ms, bulk {s['bulk_ms']:.3f} ms "
          f"(x{s['speedup']:.0f}, identical bytes)", file=sys.stderr)
    for mode, rate in (("unthrottled", None), ("paced_100hz", 100.0)):
        for kind in ("bare", "ours"):
            r = run_wire(kind, args.seconds, image, rate)
            results[f"{kind}_{mode}"] = r
            print(f"{kind:5s} {mode:12s}: {r['msg_per_s']:7.1f} msg/s  p50 {r['p50_ms']:.2f} ms  "
                  f"p99 {r['p99_ms']:.2f} ms  ({r['received']} received)", file=sys.stderr)
    for mode in ("unthrottled", "paced_100hz"):
        ours, bare = results[f"ours_{mode}"], results[f"bare_{mode}"]
        results[f"ratio_{mode}"] = {"msg_per_s_ours_over_bare": ours["msg_per_s"] / bare["msg_per_s"],
                                    "p50_ours_over_bare": ours["p50_ms"] / bare["p50_ms"]}
        print(f"ratio {mode}: msg/s ours/bare {results[f'ratio_{mode}']['msg_per_s_ours_over_bare']:.2f}, "
              f"p50 ours/bare {results[f'ratio_{mode}']['p50_ours_over_bare']:.2f}", file=sys.stderr)
    results["node_overhead"] = bench_node_overhead(image)
    n = results["node_overhead"]
    print(f"guidance node overhead per step ({results['image']}): mean {n['overhead_ms_mean']:.2f} ms, "
          f"p99 {n['overhead_ms_p99']:.2f} ms; whole run {n['run_ms_per_step']:.2f} ms/step with scripted backends",
          file=sys.stderr)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

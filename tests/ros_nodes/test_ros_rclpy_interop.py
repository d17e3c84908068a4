"""Two DDS vendors: Cyclone DDS-direct (transport_dds) against rclpy on Fast DDS, both ways.

640x480 rgb8 images bit-exact in each direction, the transient-local plan reaching a late
subscriber of the other vendor, and the guidance node of each kind serving a client of the
other. Also the rclpy message conversions (need only rclpy) and issue 11 item 12.
"""
import json
import time

import numpy as np
import pytest

from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.conversion import image_to_numpy, make_header, numpy_to_image
from interleave_robot.ros_nodes.messages import Image, String

from test_ros_rclpy_guidance import PARAMS, STEPS, Client

pytestmark = pytest.mark.dds
VGA = np.random.default_rng(640).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
STRIP = VGA[:40]  # 76.8 kB: two Fast DDS fragments
FRAGMENTS_OPEN = pytest.mark.xfail(strict=False, reason=(
    "open: a sample Fast DDS sends in 3 or more DATA_FRAGs (over ~130 kB) mostly never reaches a Cyclone DDS-direct "
    "reader (all fragments arrive and are acknowledged, no sample-lost/rejected status); docs/ROS2.md"))


@pytest.fixture
def cyclone(probe, domain_id):
    from interleave_robot.ros_nodes.transport_dds import DDSConfig, DDSTransport

    with DDSTransport(DDSConfig(domain_id=domain_id, loopback=True)) as t:
        yield t


@pytest.mark.parametrize("direction, image, profile", [
    ("cyclone->rclpy", VGA, qos.RELIABLE),
    pytest.param("cyclone->rclpy", VGA, qos.SENSOR_DATA, marks=pytest.mark.xfail(strict=False, reason=(
        "flaky before launch/fastdds_large_data.xml gave Fast DDS 4 MiB UDP buffers: a best-effort VGA frame is ~15 "
        "datagrams in one burst and best effort never repairs one; kept non-strict on a shared 2-core machine"))),
    ("rclpy->cyclone", STRIP, qos.RELIABLE), ("rclpy->cyclone", STRIP, qos.SENSOR_DATA),
    pytest.param("rclpy->cyclone", VGA, qos.RELIABLE, marks=FRAGMENTS_OPEN),
], ids=["vga-cyclone->rclpy", "vga-best-effort-cyclone->rclpy", "strip-rclpy->cyclone",
        "strip-best-effort-rclpy->cyclone", "vga-rclpy->cyclone"])
def test_images_cross_vendors_bit_exact(probe, cyclone, inbox, direction, image, profile):
    sender, receiver = (probe.transport, cyclone) if direction == "rclpy->cyclone" else (cyclone, probe.transport)
    got = inbox()
    sub = receiver.subscribe("/interop/image", Image, profile, got)
    pub = sender.publisher("/interop/image", Image, profile)
    probe.wait_matched(pub)
    probe.wait_matched(sub)  # discovery is per direction: a sample sent before both match is lost
    time.sleep(0.2)
    for _ in range(3 if profile is qos.SENSOR_DATA else 1):
        pub.publish(numpy_to_image(image, make_header(12.25, "cam")))
        time.sleep(0.1)
    msg = got.wait(1, 8)[0]
    assert (msg.width, msg.height, msg.encoding, msg.header.frame_id) == (640, image.shape[0], "rgb8", "cam")
    assert msg.header.stamp.to_nanoseconds() == 12_250_000_000
    np.testing.assert_array_equal(image_to_numpy(msg), image)


@pytest.mark.parametrize("direction", ["rclpy->cyclone", "cyclone->rclpy"])
def test_late_subscriber_of_the_other_vendor_gets_the_latched_plan(probe, cyclone, inbox, direction):
    sender, receiver = (probe.transport, cyclone) if direction == "rclpy->cyclone" else (cyclone, probe.transport)
    pub = sender.publisher("/interop/plan", String, qos.LATCHED)
    pub.publish(String(json.dumps({"steps": STEPS})))
    time.sleep(1.0)  # published long before anyone listens
    got = inbox()
    receiver.subscribe("/interop/plan", String, qos.LATCHED, got)
    assert json.loads(got.wait(1, 20)[0].data) == {"steps": STEPS}


def test_dds_direct_guidance_node_serves_an_rclpy_client(launch, inbox, tmp_path, domain_id):
    import subprocess
    import sys

    from ros_harness import RclpyProbe, node_env

    log = open(tmp_path / "dds-node.log", "w")
    node = subprocess.Popen([sys.executable, "-m", "interleave_robot.ros_nodes.dds_main", "guidance", "--loopback",
                             "--domain-id", str(domain_id), "-p", f"planner_options:={PARAMS['planner_options']}",
                             "-p", "loop:=open"], stdout=log, stderr=subprocess.STDOUT, env=node_env(domain_id))
    # The DDS-direct participant first: started after an rclpy/Fast DDS participant on the same
    # host it saw the graph but received no data in our runs (open, docs/ROS2.md).
    time.sleep(2.0)
    probe = RclpyProbe(domain_id)
    try:
        client = Client(probe, inbox)
        finished = client.run("stack", STRIP, timeout=20)[0]  # VGA frames: FRAGMENTS_OPEN
        assert finished["event"] == "finished" and finished["finished"], finished
        assert [m.data for m in client.texts.wait(2)] == STEPS
        np.testing.assert_array_equal(image_to_numpy(client.images.wait(2)[0])[10:], STRIP[10:])
        # Item 12, as documented: a DDS-direct participant publishes no ros_discovery_info,
        # so ROS 2 graph queries (`ros2 node list`) do not list it, though its topics work.
        assert "/interleave/status" in dict(probe.node.get_topic_names_and_types())
        assert all(name != "guidance" for name, _ in probe.node.get_node_names_and_namespaces())
    finally:
        probe.close()
        node.send_signal(2)
        assert node.wait(20) == 0
        log.close()
    assert "Traceback" not in (tmp_path / "dds-node.log").read_text()


def test_rclpy_guidance_node_serves_a_cyclone_client(launch, cyclone, inbox, wait_matched):
    import threading

    launch("guidance_node", PARAMS)
    status, texts = inbox(), inbox()
    status_sub = cyclone.subscribe("/interleave/status", String, qos.RELIABLE, status)
    cyclone.subscribe("/interleave/subgoal/text", String, qos.RELIABLE, texts)
    camera = cyclone.publisher("/camera/image_raw", Image, qos.SENSOR_DATA)
    task = cyclone.publisher("/interleave/task", String, qos.RELIABLE)
    for endpoint in (camera, task, status_sub):
        wait_matched(endpoint, 20)
    stop = threading.Event()

    def camera_loop():  # a camera: frames keep coming (best effort: early ones may be lost)
        while not stop.is_set():
            camera.publish(numpy_to_image(STRIP))  # VGA across processes: see docs/ROS2.md (open)
            stop.wait(0.1)

    threading.Thread(target=camera_loop, daemon=True).start()
    try:
        time.sleep(1.0)
        task.publish(String("stack"))
        finished = status.wait(1, 30, where=lambda m: json.loads(m.data)["event"] in ("finished", "error"))
    finally:
        stop.set()
    assert json.loads(finished[0].data).get("finished"), finished[0].data
    assert [m.data for m in texts.wait(2)] == STEPS


def test_rclpy_conversions_round_trip():
    pytest.importorskip("rclpy", reason="rclpy (ROS 2 Jazzy wheels, the [ros] extra) is not installed")
    from interleave_robot.ros_nodes.messages import CompressedImage
    from interleave_robot.ros_nodes.transport_rclpy import from_ros, to_ros

    msg = numpy_to_image(np.arange(24, dtype=np.uint8).reshape(2, 4, 3), make_header(1.5, "cam"))
    assert from_ros(to_ros(msg), Image) == msg
    assert from_ros(to_ros(String("x")), String) == String("x")
    compressed = CompressedImage(header=make_header(2.0, "c"), format="png", data=b"\x89PNG")
    assert from_ros(to_ros(compressed), CompressedImage) == compressed

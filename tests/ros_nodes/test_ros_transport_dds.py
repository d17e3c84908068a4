"""Real DDS traffic on 127.0.0.1: in-process participants, another process, QoS warnings, timeouts."""
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.conversion import image_to_numpy, numpy_to_image
from interleave_robot.ros_nodes.messages import Image, String
from interleave_robot.ros_nodes.transport_dds import DDSConfig, DDSTransport, cyclone_config_xml, ros_topic

pytestmark = pytest.mark.dds  # DDS on loopback, inside the test network namespace


def test_two_participants_exchange_strings_and_images(dds_config, ns, inbox, wait_matched):
    with DDSTransport(dds_config) as a, DDSTransport(dds_config) as b:
        texts, images = inbox(), inbox()
        b.subscribe(ns + "/text", String, qos.RELIABLE, texts)
        b.subscribe(ns + "/image", Image, qos.SENSOR_DATA, images)
        pub_text = a.publisher(ns + "/text", String, qos.RELIABLE)
        pub_image = a.publisher(ns + "/image", Image, qos.SENSOR_DATA)
        wait_matched(pub_text)
        wait_matched(pub_image)
        frame = np.random.default_rng(1).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
        for i in range(3):
            pub_text.publish(String(f"hello {i}"))
        pub_image.publish(numpy_to_image(frame))
        assert [m.data for m in texts.wait(3)] == ["hello 0", "hello 1", "hello 2"]
        np.testing.assert_array_equal(image_to_numpy(images.wait(1)[0]), frame)
        assert a.qos_warnings() == [] and b.qos_warnings() == []


PEER = textwrap.dedent("""
    import sys, time
    from interleave_robot.ros_nodes import qos
    from interleave_robot.ros_nodes.messages import String
    from interleave_robot.ros_nodes.transport_dds import DDSConfig, DDSTransport
    t = DDSTransport(DDSConfig(domain_id=int(sys.argv[1]), loopback=True))
    pub = t.publisher(sys.argv[2] + "/pong", String, qos.RELIABLE)
    t.subscribe(sys.argv[2] + "/ping", String, qos.RELIABLE, lambda m: pub.publish(String(m.data.upper())))
    time.sleep(float(sys.argv[3]))
    t.close()
""")


def test_another_process_answers_over_loopback(dds_config, ns, inbox, wait_matched):
    """Two OS processes: the bytes really cross the loopback interface (not in-process delivery)."""
    peer = subprocess.Popen([sys.executable, "-c", PEER, str(dds_config.domain_id), ns, "20"])
    try:
        with DDSTransport(dds_config) as t:
            pongs = inbox()
            t.subscribe(ns + "/pong", String, qos.RELIABLE, pongs)
            ping = t.publisher(ns + "/ping", String, qos.RELIABLE)
            wait_matched(ping, timeout=15)
            deadline = time.monotonic() + 15
            while not pongs.items and time.monotonic() < deadline:
                ping.publish(String("ping"))
                time.sleep(0.1)
            assert pongs.wait(1)[0].data == "PING"
    finally:
        peer.kill()
        peer.wait(10)


def test_reliable_subscription_to_best_effort_publisher_warns(dds_config, ns, inbox):
    with DDSTransport(dds_config) as a, DDSTransport(dds_config) as b:
        got = inbox()
        b.subscribe(ns + "/cam", String, qos.RELIABLE, got)
        pub = a.publisher(ns + "/cam", String, qos.SENSOR_DATA)
        deadline = time.monotonic() + 5
        while not (a.qos_warnings() and b.qos_warnings()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "reliability" in b.qos_warnings()[0] and "receives nothing" in b.qos_warnings()[0]
        assert "reliability" in a.qos_warnings()[0]
        pub.publish(String("lost"))
        time.sleep(0.2)
        assert got.items == [] and pub.matched_count() == 0
    assert qos.RELIABLE.compatible_with(qos.SENSOR_DATA) is not None
    assert qos.SENSOR_DATA.compatible_with(qos.RELIABLE) is None
    assert qos.LATCHED.compatible_with(qos.RELIABLE) is not None


def test_transient_local_reaches_a_late_subscriber(dds_config, ns, inbox):
    with DDSTransport(dds_config) as a, DDSTransport(dds_config) as b:
        pub = a.publisher(ns + "/plan", String, qos.LATCHED)
        pub.publish(String("old plan"))
        pub.publish(String("the plan"))
        got = inbox()
        b.subscribe(ns + "/plan", String, qos.LATCHED, got)
        assert [m.data for m in got.wait(1)] == ["the plan"]


def test_missing_peer_does_not_block():
    """Publishing with nobody listening returns at once; matched_count says 0."""
    with DDSTransport(DDSConfig(domain_id=0 + 231, loopback=True)) as t:
        pub = t.publisher("/nobody/here", String, qos.RELIABLE)
        start = time.perf_counter()
        for _ in range(100):
            pub.publish(String("x"))
        assert time.perf_counter() - start < 2.0
        assert pub.matched_count() == 0


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="domain_id"):
        DDSConfig(domain_id=300)
    with pytest.raises(ConfigError, match="peers"):
        DDSConfig(peers=["<evil/>"])
    with pytest.raises(ConfigError, match="absolute ROS topic"):
        ros_topic("camera")
    with pytest.raises(ConfigError, match="reliability"):
        qos.QosProfile(reliability="sometimes")
    assert ros_topic("/camera/image_raw") == "rt/camera/image_raw"
    xml = cyclone_config_xml(loopback=True, peers=["10.0.0.2"])
    assert 'NetworkInterface name="lo"' in xml and "127.0.0.1" in xml and "10.0.0.2" in xml
    assert cyclone_config_xml(False, []) is None
    assert "<MaxMessageSize>65436B" in cyclone_config_xml(True, [], 64)
    with pytest.raises(ConfigError, match="max_message_kb"):
        DDSConfig(max_message_kb=65)

"""The guidance stream recorded to MCAP over real DDS, read back with rosbags and the mcap reader."""
import json
import time

import numpy as np
import pytest
import yaml

from interleave_robot.errors import ConfigError
from interleave_robot.ros_nodes import qos
from interleave_robot.ros_nodes.conversion import make_header, numpy_to_image
from interleave_robot.ros_nodes.messages import Image, String
from interleave_robot.ros_nodes.recording import BagRecorder, guidance_topics, read_bag
from interleave_robot.ros_nodes.transport_dds import DDSTransport

pytestmark = pytest.mark.dds  # DDS on loopback, inside the test network namespace


def test_recorded_stream_reads_back(tmp_path, dds_config, ns, wait_matched):
    topics = guidance_topics(camera_topic=ns + "/camera/image_raw", prefix=ns + "/interleave")
    bag_path = tmp_path / "bag"
    image = np.random.default_rng(2).integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    with DDSTransport(dds_config) as robot, DDSTransport(dds_config) as recorder_side:
        bag = BagRecorder(bag_path)
        bag.record(recorder_side, topics)
        cam = robot.publisher(topics[0].name, Image, qos.SENSOR_DATA)
        text = robot.publisher(topics[3].name, String, qos.RELIABLE)
        status = robot.publisher(topics[4].name, String, qos.RELIABLE)
        plan = robot.publisher(topics[1].name, String, qos.LATCHED)
        for pub in (cam, text, status, plan):
            wait_matched(pub)
        cam.publish(numpy_to_image(image, make_header(3.25, "cam")))
        plan.publish(String(json.dumps({"steps": []})))
        text.publish(String("put the red block on the blue block"))
        status.publish(String(json.dumps({"event": "finished"})))
        deadline = time.monotonic() + 5
        while sum(bag.counts.values()) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        bag.close()
    messages = read_bag(bag_path)
    by_topic = {topic: msg for topic, _, _, msg in messages}
    img = by_topic[topics[0].name]
    assert (img.width, img.height, img.encoding, img.header.frame_id) == (16, 12, "rgb8", "cam")
    assert img.header.stamp.sec == 3 and img.header.stamp.nanosec == 250_000_000
    np.testing.assert_array_equal(np.asarray(img.data).reshape(12, 16, 3), image)
    assert by_topic[topics[3].name].data == "put the red block on the blue block"
    assert json.loads(by_topic[topics[4].name].data)["event"] == "finished"
    # metadata.yaml for ros2 bag play: mcap storage, the topics with their types and QoS.
    meta = yaml.safe_load((bag_path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap"
    types = {t["topic_metadata"]["name"]: t["topic_metadata"]["type"] for t in meta["topics_with_message_count"]}
    assert types[topics[0].name] == "sensor_msgs/msg/Image" and types[topics[1].name] == "std_msgs/msg/String"
    assert "transient_local" in str(meta) or "durability: 1" in str(meta)
    # The MCAP file itself carries ros2msg schemas (what Foxglove needs), readable without rosbags.
    from mcap.reader import make_reader

    mcap_file = next(bag_path.glob("*.mcap"))
    with open(mcap_file, "rb") as f:
        summary = make_reader(f).get_summary()
    schemas = {s.name: s.encoding for s in summary.schemas.values()}
    assert schemas["sensor_msgs/msg/Image"] == "ros2msg"
    assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}


def test_bad_recorder_options(tmp_path):
    with pytest.raises(ConfigError, match="distro"):
        BagRecorder(tmp_path / "x", distro="noetic")
    (tmp_path / "exists").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        BagRecorder(tmp_path / "exists")
    with BagRecorder(tmp_path / "y") as bag:
        with pytest.raises(ConfigError, match="not added"):
            bag.write("/nope", String("x"))

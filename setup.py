"""interleave-robot: one pip-installable package that is also an ament_python ROS 2 package.

The design card keeps `sim_envs/`, `ros_nodes/` and `training/` as top-level folders of the
repository; they install under the `interleave_robot` namespace (never as generic top-level
modules that would collide with other projects in site-packages).
"""
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

setup(
    name="interleave-robot",
    version="0.1.0",
    description="InterleaveThinker-style embodied guidance: planner, any image generator, critic; "
    "ROS 2 nodes, a MuJoCo harness and critic training in simulation.",
    packages=packages,
    package_dir=package_dir,
    include_package_data=True,
    package_data={PACKAGE: ["templates/*.txt", "templates/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*_launch.py")),
        (f"share/{PACKAGE}/config", glob("launch/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=["numpy", "pillow", "requests", "tqdm", "pyyaml"],
    zip_safe=True,
    maintainer="interleave-robot developers",
    maintainer_email="interleave-robot@users.noreply.github.com",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "interleave-robot = interleave_robot.cli:main",
        ],
    },
)

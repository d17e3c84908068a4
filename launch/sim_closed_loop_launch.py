"""Closed loop in simulation: guidance node (teacher, sim generator, perception critic) and the
MuJoCo sim bridge that publishes the camera and follows subgoal images with the executor.

    MUJOCO_GL=egl ros2 launch interleave_robot sim_closed_loop_launch.py family:=stack seed:=0
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    default_params = PathJoinSubstitution([FindPackageShare("interleave_robot"), "config", "sim_params.yaml"])
    params = LaunchConfiguration("params")
    return LaunchDescription([
        DeclareLaunchArgument("params", default_value=default_params),
        DeclareLaunchArgument("family", default_value="stack", description="stack | sort | line | pick_place"),
        DeclareLaunchArgument("seed", default_value="0"),
        SetEnvironmentVariable("MUJOCO_GL", "egl"),
        Node(package="interleave_robot", executable="guidance_node", name="guidance_node", output="screen",
             parameters=[params]),  # fault rate and agents: edit sim_params.yaml or pass params:=
        Node(package="interleave_robot", executable="sim_bridge_node", name="sim_bridge_node", output="screen",
             parameters=[params, {"family": LaunchConfiguration("family"),
                                  "seed": LaunchConfiguration("seed")}]),
    ])

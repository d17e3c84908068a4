"""All-in-one: one guidance node with planner, generator and critic in-process.

    ros2 launch interleave_robot guidance_all_in_one_launch.py [params:=/path/to/params.yaml]
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    default_params = PathJoinSubstitution([FindPackageShare("interleave_robot"), "config", "guidance_params.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument("params", default_value=default_params, description="guidance node parameters"),
        DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw"),
        Node(package="interleave_robot", executable="guidance_node", name="guidance_node", output="screen",
             parameters=[LaunchConfiguration("params")],
             remappings=[("/camera/image_raw", LaunchConfiguration("camera_topic"))]),
    ])

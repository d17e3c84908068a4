"""Split mode: guidance, planner, critic and generator as separate nodes.

On the robot computer:  ros2 launch interleave_robot guidance_split_launch.py generator:=false
On the GPU host:        ros2 launch interleave_robot guidance_split_launch.py \
                            guidance:=false planner:=false critic:=false
(or, without ROS on the GPU host: interleave-robot-node generator --params split_params.yaml)
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ROLES = ("guidance", "planner", "generator", "critic")


def generate_launch_description():
    default_params = PathJoinSubstitution([FindPackageShare("interleave_robot"), "config", "split_params.yaml"])
    actions = [DeclareLaunchArgument("params", default_value=default_params)]
    for role in ROLES:
        actions.append(DeclareLaunchArgument(role, default_value="true", description=f"start the {role} node here"))
        actions.append(Node(package="interleave_robot", executable=f"{role}_node", name=f"{role}_node",
                            output="screen", parameters=[LaunchConfiguration("params")],
                            condition=IfCondition(LaunchConfiguration(role))))
    return LaunchDescription(actions)

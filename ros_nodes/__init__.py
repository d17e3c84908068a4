"""ROS 2 nodes and the DDS-direct transport (installed as interleave_robot.ros_nodes)."""

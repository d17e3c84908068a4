"""ROS 2 nodes and the DDS-direct transport (installed as interleave_robot.ros_nodes).

Importing this package imports nothing heavy; the modules load Cyclone DDS or rclpy when used.

- messages.py, conversion.py, qos.py: ROS 2 message structs (CDR equal to ROS 2's), image
  conversion with checks, ROS-style QoS profiles.
- transport.py (interface), transport_dds.py (Cyclone DDS directly), transport_rclpy.py.
- guidance_logic.py: the guidance node's logic; split_logic.py + split_protocol.py: the
  planner/generator/critic nodes of the split mode; node_setup.py, ros_params.py: options.
- guidance_node.py, agent_nodes.py, sim_bridge_node.py: rclpy entry points (`ros2 run`);
  dds_main.py: the same nodes over DDS without ROS (`interleave-robot-node`).
- sim_bridge.py: the MuJoCo env as a robot on topics; ros_demo_cmd.py: `interleave-robot ros-demo`.
- recording.py: the guidance stream to an MCAP ROS 2 bag.
- interfaces/interleave_robot_interfaces: the Subgoal message package (ament_cmake).
"""

"""The tabletop scene, composed in code (MJCF): table, coloured blocks, bins, a mocap-welded
parallel gripper and a fixed RGB-D camera with a known pinhole model.

This module is the shared contract of the simulation: envs, the simulated generator, the
executor, the perception critic and the training rewards all read scenes through
`SceneSpec` (what is in the scene) and `SceneState` (where everything is, JSON-able).
World frame: z up, table top at z = 0, the camera in front of the table (-y) looking at it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from interleave_robot.types import CameraModel, SceneObject

# Saturated, well-separated colours so classical segmentation is reliable (HSV hue apart).
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10),
    "green": (0.10, 0.65, 0.15),
    "blue": (0.10, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.05),
    "purple": (0.55, 0.15, 0.75),
    "orange": (1.00, 0.50, 0.00),
}
SHAPES = ("cube", "cylinder")
BLOCK_HALF = 0.02  # blocks are 4 cm
BIN_HALF = 0.058  # bins are 11.6 cm square trays with low walls: open fingers (8 cm + 2 x 1 cm) fit inside
BIN_WALL_HEIGHT = 0.012
TABLE_HALF = (0.40, 0.30)
WORKSPACE = ((-0.22, 0.22), (-0.14, 0.16))  # x range, y range where objects are placed
CAMERA_NAME = "front"
# Placed so the whole WORKSPACE (with a block-width margin, towers included) is in view at 128x128.
CAMERA_POS = (0.0, -0.44, 0.62)
CAMERA_LOOKAT = (0.0, 0.03, 0.0)
CAMERA_FOVY = 44.0
GRIPPER_HOME = (0.0, 0.0, 0.30)
# Finger slide joints: ctrl 0 = open (inner faces FINGER_OPEN_GAP apart), FINGER_CLOSED = fully shut.
# Open gap 8 cm around a 4 cm block leaves 2 cm each side for image-based positioning error.
FINGER_OFFSET = 0.045  # finger body centre from the palm centre (y), when open
FINGER_THICK = 0.005  # finger half thickness (y)
FINGER_CLOSED = 0.04
FINGER_OPEN_GAP = 2 * (FINGER_OFFSET - FINGER_THICK)


@dataclass(frozen=True)
class ObjectSpec:
    """One object: `kind` "block" (free, movable) or "bin" (fixed tray); colour and shape names."""

    name: str
    kind: str
    color: str
    shape: str = "cube"

    def __post_init__(self):
        if self.kind not in ("block", "bin"):
            raise ValueError(f"object kind must be 'block' or 'bin', got {self.kind!r}")
        if self.color not in COLORS:
            raise ValueError(f"unknown colour {self.color!r}; known: {', '.join(COLORS)}")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; known: {', '.join(SHAPES)}")

    @property
    def words(self) -> str:
        """How prompts name it: 'red block', 'blue cylinder', 'green bin'."""
        noun = "bin" if self.kind == "bin" else ("block" if self.shape == "cube" else "cylinder")
        return f"{self.color} {noun}"


@dataclass
class SceneSpec:
    objects: list[ObjectSpec]
    image_width: int = 128
    image_height: int = 128

    @property
    def blocks(self) -> list[ObjectSpec]:
        return [o for o in self.objects if o.kind == "block"]

    @property
    def bins(self) -> list[ObjectSpec]:
        return [o for o in self.objects if o.kind == "bin"]

    def get(self, name: str) -> ObjectSpec:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {"objects": [vars(o) | {} for o in self.objects], "image_width": self.image_width,
                "image_height": self.image_height}

    @classmethod
    def from_dict(cls, data: dict) -> "SceneSpec":
        return cls(objects=[ObjectSpec(**o) for o in data["objects"]],
                   image_width=data["image_width"], image_height=data["image_height"])


def inventory_of(spec: SceneSpec) -> list[SceneObject]:
    """The scene's inventory (core SceneObject list): names, kinds, colours, shapes; no poses."""
    return [SceneObject(o.name, o.kind, o.color, o.shape) for o in spec.objects]


def spec_from_inventory(inventory, width: int, height: int) -> SceneSpec:
    """A SceneSpec from an inventory (SceneObject list) and the camera's image size; ValueError
    naming the problem for an entry the simulation has no such object for."""
    return SceneSpec([ObjectSpec(o.name, o.kind, o.color, o.shape or "cube") for o in inventory], width, height)


@dataclass
class SceneState:
    """Where everything is: object name -> (x, y, z) and quaternion (w, x, y, z). JSON-able."""

    positions: dict[str, list[float]] = field(default_factory=dict)
    quaternions: dict[str, list[float]] = field(default_factory=dict)

    def copy(self) -> "SceneState":
        return SceneState({k: list(v) for k, v in self.positions.items()},
                          {k: list(v) for k, v in self.quaternions.items()})

    def to_dict(self) -> dict:
        return {"positions": self.positions, "quaternions": self.quaternions}

    @classmethod
    def from_dict(cls, data: dict) -> "SceneState":
        return cls({k: list(v) for k, v in data["positions"].items()},
                   {k: list(v) for k, v in data["quaternions"].items()})


def _rgba(color: str, alpha: float = 1.0, pastel: float = 0.0) -> str:
    r, g, b = (c * (1 - pastel) + pastel for c in COLORS[color])
    return f"{r:.3f} {g:.3f} {b:.3f} {alpha}"


BIN_PASTEL = 0.55  # bins are a pale tint of their colour, so a block inside stays segmentable


def _block_xml(obj: ObjectSpec, index: int) -> str:
    h = BLOCK_HALF
    if obj.shape == "cube":
        geom = f'<geom name="{obj.name}" type="box" size="{h} {h} {h}"'
    else:
        geom = f'<geom name="{obj.name}" type="cylinder" size="{h} {h}"'
    # Parked off-table until the env places it (reset), spaced so nothing overlaps.
    return (f'<body name="{obj.name}" pos="{0.6 + 0.06 * index} 0.5 {h}">'
            f'<freejoint name="{obj.name}_joint"/>'
            f'{geom} rgba="{_rgba(obj.color)}" mass="0.05" friction="1.5 0.01 0.001" condim="4"/></body>')


def _bin_xml(obj: ObjectSpec, index: int) -> str:
    b, w, t = BIN_HALF, BIN_WALL_HEIGHT, 0.004
    light = _rgba(obj.color, 1.0, pastel=BIN_PASTEL)
    walls = "".join(
        f'<geom type="box" pos="{x} {y} {w / 2}" size="{sx} {sy} {w / 2}" rgba="{light}"/>'
        for x, y, sx, sy in ((b, 0, t, b), (-b, 0, t, b), (0, b, b, t), (0, -b, b, t)))
    return (f'<body name="{obj.name}" pos="{-0.6 - 0.12 * index} 0.5 0">'
            f'<geom name="{obj.name}" type="box" pos="0 0 0.001" size="{b} {b} 0.001" rgba="{light}"/>'
            f'{walls}</body>')


def gripper_xml() -> str:
    """Mocap-welded floating parallel gripper: a palm and two position-controlled fingers."""
    return f"""
    <body name="gripper_mocap" mocap="true" pos="{GRIPPER_HOME[0]} {GRIPPER_HOME[1]} {GRIPPER_HOME[2]}"/>
    <body name="gripper" pos="{GRIPPER_HOME[0]} {GRIPPER_HOME[1]} {GRIPPER_HOME[2]}">
      <freejoint name="gripper_joint"/>
      <geom name="palm" type="box" size="0.012 {FINGER_OFFSET + 0.01} 0.01" pos="0 0 0.05" rgba="0.3 0.3 0.3 1" mass="0.3"/>
      <body name="finger_left" pos="0 {FINGER_OFFSET} 0.02">
        <joint name="finger_left" type="slide" axis="0 -1 0" range="0 {FINGER_CLOSED}" damping="5"/>
        <geom name="finger_left" type="box" size="0.01 {FINGER_THICK} 0.03" rgba="0.4 0.4 0.4 1"
              friction="2 0.02 0.002" condim="4" mass="0.05"/>
      </body>
      <body name="finger_right" pos="0 {-FINGER_OFFSET} 0.02">
        <joint name="finger_right" type="slide" axis="0 1 0" range="0 {FINGER_CLOSED}" damping="5"/>
        <geom name="finger_right" type="box" size="0.01 {FINGER_THICK} 0.03" rgba="0.4 0.4 0.4 1"
              friction="2 0.02 0.002" condim="4" mass="0.05"/>
      </body>
    </body>"""


def build_mjcf(spec: SceneSpec) -> str:
    """The scene's MJCF text. Shadows and multisampling off: they dominate CPU rendering time."""
    blocks = "".join(_block_xml(o, i) for i, o in enumerate(spec.blocks))
    bins = "".join(_bin_xml(o, i) for i, o in enumerate(spec.bins))
    tx, ty = TABLE_HALF
    fx = CAMERA_LOOKAT[0] - CAMERA_POS[0]
    fy = CAMERA_LOOKAT[1] - CAMERA_POS[1]
    fz = CAMERA_LOOKAT[2] - CAMERA_POS[2]
    return f"""<mujoco model="interleave_tabletop">
  <compiler angle="radian"/>
  <option timestep="0.002" integrator="implicitfast" cone="elliptic" impratio="10">
    <flag multiccd="enable"/>  <!-- several contacts per convex pair: cylinders stand flat -->
  </option>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <global offwidth="{max(640, spec.image_width)}" offheight="{max(480, spec.image_height)}"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
  </visual>
  <worldbody>
    <light pos="0 -0.3 1.2" dir="0 0.2 -1" diffuse="0.4 0.4 0.4" castshadow="false"/>
    <geom name="table" type="box" pos="0 0 -0.02" size="{tx} {ty} 0.02" rgba="0.82 0.80 0.76 1"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="2 2 0.1" rgba="0.3 0.3 0.32 1"/>
    <camera name="{CAMERA_NAME}" pos="{CAMERA_POS[0]} {CAMERA_POS[1]} {CAMERA_POS[2]}"
            mode="fixed" fovy="{CAMERA_FOVY}" xyaxes="{_camera_xyaxes(fx, fy, fz)}"/>
    {gripper_xml()}
    {blocks}
    {bins}
  </worldbody>
  <equality>
    <weld body1="gripper_mocap" body2="gripper" solref="0.01 1"/>
    <equality_finger/>
  </equality>
  <actuator>
    <position name="finger_left" joint="finger_left" kp="200" ctrlrange="0 {FINGER_CLOSED}"/>
    <position name="finger_right" joint="finger_right" kp="200" ctrlrange="0 {FINGER_CLOSED}"/>
  </actuator>
</mujoco>""".replace("<equality_finger/>", '<joint joint1="finger_left" joint2="finger_right"/>')


def _camera_xyaxes(fx: float, fy: float, fz: float) -> str:
    forward = np.array([fx, fy, fz], dtype=float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return " ".join(f"{v:.6f}" for v in (*right, *up))


def camera_intrinsics(width: int, height: int, fovy_deg: float = CAMERA_FOVY) -> tuple[float, float, float, float]:
    """fx, fy, cx, cy of MuJoCo's pinhole for a fixed camera with vertical field of view fovy."""
    f = 0.5 * height / math.tan(math.radians(fovy_deg) / 2)
    return f, f, (width - 1) / 2.0, (height - 1) / 2.0


def camera_model(model, data, width: int, height: int, camera: str = CAMERA_NAME):
    """The core library's CameraModel (OpenCV convention) for a MuJoCo camera after mj_forward."""
    import mujoco

    cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    fx, fy, cx, cy = camera_intrinsics(width, height, float(model.cam_fovy[cam_id]))
    rot_mj = data.cam_xmat[cam_id].reshape(3, 3)  # columns: camera x (right), y (up), z (backward)
    rot_cv = rot_mj @ np.diag([1.0, -1.0, -1.0])  # OpenCV: y down, z forward
    world_from_camera = np.eye(4)
    world_from_camera[:3, :3] = rot_cv
    world_from_camera[:3, 3] = data.cam_xpos[cam_id]
    return CameraModel(width=width, height=height, fx=fx, fy=fy, cx=cx, cy=cy,
                       world_from_camera=world_from_camera.tolist())


def body_ids(model, spec: SceneSpec) -> list[int]:
    """The MuJoCo body id of each object of `spec`, in order (what read_state looks up)."""
    import mujoco

    return [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, obj.name) for obj in spec.objects]


def read_state(model, data, spec: SceneSpec, bodies: list[int] | None = None) -> SceneState:
    """Poses of every object (blocks from their free joints, bins from their body positions);
    `bodies`: body_ids(model, spec), when the caller keeps them."""
    state = SceneState()
    xpos, xquat = data.xpos, data.xquat
    for obj, body in zip(spec.objects, bodies if bodies is not None else body_ids(model, spec)):
        state.positions[obj.name] = xpos[body].tolist()
        state.quaternions[obj.name] = xquat[body].tolist()
    return state


def write_state(model, data, spec: SceneSpec, state: SceneState) -> None:
    """Put every object where `state` says (velocities zeroed); call mj_forward afterwards."""
    import mujoco

    for obj in spec.objects:
        if obj.name not in state.positions:
            continue
        pos = state.positions[obj.name]
        quat = state.quaternions.get(obj.name, [1.0, 0.0, 0.0, 0.0])
        if obj.kind == "bin":
            body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, obj.name)
            model.body_pos[body] = pos
            model.body_quat[body] = quat
            continue
        joint = model.joint(f"{obj.name}_joint")
        data.qpos[joint.qposadr[0]:joint.qposadr[0] + 7] = [*pos, *quat]
        data.qvel[joint.dofadr[0]:joint.dofadr[0] + 6] = 0.0


@dataclass
class SimSnapshot:
    """What a simulated image shows: the scene's contents and every object's pose (JSON-able).

    It is the `state` behind Observation, GenerationRequest.source_state and
    GenerationResult.state in simulation. The gripper is not part of it: subgoal images are
    rendered with the gripper parked at GRIPPER_HOME, open.
    """

    spec: SceneSpec
    state: SceneState

    def copy(self) -> "SimSnapshot":
        return SimSnapshot(self.spec, self.state.copy())

    def to_dict(self) -> dict:
        return {"spec": self.spec.to_dict(), "state": self.state.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "SimSnapshot":
        return cls(SceneSpec.from_dict(data["spec"]), SceneState.from_dict(data["state"]))


def park_gripper(model, data) -> None:
    """Put the gripper (and its mocap target) at GRIPPER_HOME with the fingers open, at rest."""
    mocap = model.body("gripper_mocap").mocapid[0]
    data.mocap_pos[mocap] = GRIPPER_HOME
    data.mocap_quat[mocap] = (1.0, 0.0, 0.0, 0.0)
    joint = model.joint("gripper_joint")
    data.qpos[joint.qposadr[0]:joint.qposadr[0] + 7] = [*GRIPPER_HOME, 1.0, 0.0, 0.0, 0.0]
    data.qvel[joint.dofadr[0]:joint.dofadr[0] + 6] = 0.0
    for name in ("finger_left", "finger_right"):
        finger = model.joint(name)
        data.qpos[finger.qposadr[0]] = 0.0
        data.qvel[finger.dofadr[0]] = 0.0
    data.ctrl[:] = 0.0

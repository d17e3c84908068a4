"""vision.py on real MuJoCo renders: segmentation per palette colour, camera geometry, 3D from blobs."""
import colorsys
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from interleave_robot.sim_envs import vision  # noqa: E402
from interleave_robot.sim_envs.scene import BLOCK_HALF, COLORS, ObjectSpec, SceneSpec, SceneState  # noqa: E402

from .perception_scenes import SceneRenderer  # noqa: E402

# Every palette colour on the table, a two-block tower (orange on green) and a pale bin.
POSITIONS = {
    "red": [-0.18, -0.08, BLOCK_HALF], "blue": [0.17, 0.12, BLOCK_HALF], "yellow": [-0.05, 0.13, BLOCK_HALF],
    "purple": [0.19, -0.10, BLOCK_HALF], "green": [0.04, -0.02, BLOCK_HALF], "orange": [0.043, -0.018, 3 * BLOCK_HALF],
    "bin": [-0.14, 0.07, 0.0],
}


@pytest.fixture(scope="module")
def scene():
    spec = SceneSpec([ObjectSpec(c, "block", c, "cylinder" if c == "purple" else "cube") for c in COLORS]
                     + [ObjectSpec("bin", "bin", "blue")])
    renderer = SceneRenderer(spec)
    state = SceneState({k: list(v) for k, v in POSITIONS.items()})
    rgb, depth, camera = renderer.render(state)
    renderer.close()
    return spec, state, rgb, depth, camera


def test_hsv_matches_colorsys():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(1, 200, 3), dtype=np.uint8)
    hue, sat, val = vision.hsv(pixels)
    for i in range(200):
        h, s, v = colorsys.rgb_to_hsv(*(pixels[0, i] / 255.0))
        assert abs(vision.hue_distance(hue[0, i], h * 360)) < 1e-3
        assert abs(sat[0, i] - s) < 1e-5 and abs(val[0, i] - v) < 1e-5


def test_projection_round_trip(scene):
    *_, camera = scene
    for point in ([0.1, -0.05, 0.02], [-0.2, 0.15, 0.0], [0.0, 0.0, 0.1]):
        u, v = vision.project(camera, point)
        back = vision.ray_plane_z(camera, u, v, point[2])
        assert np.allclose(back, point, atol=1e-9)
    with pytest.raises(ValueError, match="parallel|does not see"):
        vision.ray_plane_z(camera, 64, 0, 5.0)  # a plane above the camera


def test_each_colour_segments_at_its_block(scene):
    spec, state, rgb, _, camera = scene
    masks = vision.color_masks(rgb)
    for color in COLORS:
        blob = vision.merged_blob(masks[color])
        assert blob is not None, color
        u, v = vision.project(camera, state.positions[color])
        assert np.hypot(blob.u - u, blob.v - v) < 4.0, color  # the visible faces sit around the centre
    # The pale blue bin is not a blue block, and the grey table/gripper belong to no colour.
    assert not (masks["blue"] & vision.bin_masks(rgb, ["blue"])["blue"]).any()
    assert vision.bin_masks(rgb, ["blue"])["blue"].sum() > 100
    assert vision.segment(rgb).off_palette.sum() == 0


def test_block_centres_from_depth_and_from_bottom_edge(scene):
    spec, state, rgb, depth, camera = scene
    masks = vision.color_masks(rgb)
    for color in COLORS:
        truth = np.array(state.positions[color])
        from_depth = vision.block_center_from_depth(camera, masks[color], depth)
        assert np.linalg.norm(from_depth - truth) < 0.005, color
        blob = vision.merged_blob(masks[color])
        from_edge = vision.block_center_from_bottom(camera, blob, truth[2])
        assert np.linalg.norm(from_edge[:2] - truth[:2]) < 0.005, color


def test_stack_structure_finds_the_tower(scene):
    spec, state, rgb, _, camera = scene
    masks = vision.color_masks(rgb)
    blobs = {c: vision.merged_blob(masks[c]) for c in COLORS}
    heights, supports = vision.stack_structure(camera, blobs)
    assert supports["orange"] == "green"
    assert heights["orange"] == pytest.approx(3 * BLOCK_HALF)
    assert all(supports[c] is None and heights[c] == BLOCK_HALF for c in COLORS if c != "orange")


def test_bin_centre_from_its_pale_region(scene):
    """The one bin-centre estimator (perception.bin_regions + bin_center), as critic and executor use it."""
    from interleave_robot.sim_envs import perception

    spec, state, rgb, depth, camera = scene
    regions = perception.bin_regions(rgb, ["blue"])
    center = perception.bin_center(camera, regions["blue"])
    assert np.linalg.norm(center[:2] - np.array(POSITIONS["bin"][:2])) < 0.008  # from the image alone: 6.2 mm
    assert perception.bin_regions(np.full_like(rgb, 200), ["blue"]) == {}


def test_silhouette_area_matches_an_unoccluded_block(scene):
    spec, state, rgb, _, camera = scene
    area = vision.merged_blob(vision.color_masks(rgb)["red"]).area
    assert area == pytest.approx(vision.silhouette_area(camera, state.positions["red"]), rel=0.1)

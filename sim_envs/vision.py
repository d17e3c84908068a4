"""Classical vision for the tabletop scene: colour segmentation and camera geometry.

The scene's palette (`scene.COLORS`) is saturated and hue-separated, bins are pale tints
of their colour, and the table/floor/gripper are grey, so a pixel's hue and saturation
say which object it can belong to. Geometry uses the pinhole `CameraModel` (OpenCV
convention): pixel -> ray in the world -> intersection with a horizontal plane, and the
inverse projection. Used by the executor and the perception critic; numpy only, except
connected components (scipy.ndimage, imported lazily).
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from interleave_robot.sim_envs.scene import BLOCK_HALF, COLORS

# Hue of each palette colour in degrees. Rendering saturates bright channels (ambient +
# diffuse light exceeds 1), which shifts hue a few degrees: measured, red 0, orange 30-34,
# yellow 54-60, green 126, blue 228, purple 280. These centres sit in the measured ranges.
PALETTE_HUES: dict[str, float] = {
    name: colorsys.rgb_to_hsv(*rgb)[0] * 360.0 for name, rgb in COLORS.items()}
PALETTE_HUES["yellow"] = 57.0
PALETTE_HUES["orange"] = 32.0
# Pixels go to the nearest palette hue within this; orange/yellow, the closest pair, are ~25
# degrees apart and split at their midpoint. Wide enough for an editor's colour shifts and
# JPEG's chroma noise on dark faces (measured: purple's shaded face wanders +-15 degrees).
HUE_TOLERANCE = 24.0
# Block faces measure 0.8-1.0 in a render; JPEG's chroma subsampling pulls small dark faces
# down to ~0.5, pale bins measure 0.23-0.35 (0.2-0.4 after an editor's colour shifts).
BLOCK_MIN_SAT = 0.55
BIN_SAT_RANGE = (0.15, 0.55)
# Pale tints shift hue with brightness (clipping): measured, orange 42-49, purple 280-298.
BIN_HUES = {"red": 0.0, "orange": 46.0, "yellow": 60.0, "green": 126.0, "blue": 223.0, "purple": 289.0}
BIN_HUE_TOLERANCE = 15.0  # pixels go to the nearest of the scene's own bin colours
MIN_VALUE = 0.2  # too dark to judge a hue


def hsv(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees [0, 360), saturation and value in [0, 1] for an RGB uint8 image."""
    rgb = image.astype(np.float32) / 255.0
    mx = rgb.max(axis=-1)
    mn = rgb.min(axis=-1)
    delta = mx - mn
    sat = np.where(mx > 0, delta / np.maximum(mx, 1e-6), 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(delta, 1e-6)
    hue = np.select([mx == r, mx == g], [((g - b) / safe) % 6.0, (b - r) / safe + 2.0],
                    (r - g) / safe + 4.0) * 60.0
    hue = np.where(delta > 0, hue, 0.0)
    return hue, sat, mx


def hue_distance(hue: np.ndarray, ref: float) -> np.ndarray:
    d = np.abs(hue - ref) % 360.0
    return np.minimum(d, 360.0 - d)


def _hue_table(hues: tuple[float, ...], tolerance: float) -> np.ndarray:
    """For each integer hue 0..359: the index of the nearest of `hues` within tolerance, else -1."""
    degrees = np.arange(360, dtype=np.float32)
    dists = np.stack([hue_distance(degrees, h) for h in hues])
    return np.where(dists.min(axis=0) <= tolerance, dists.argmin(axis=0), -1)


_BLOCK_TABLE = _hue_table(tuple(PALETTE_HUES.values()), HUE_TOLERANCE)


@dataclass
class Segmentation:
    """One image's pixels by what they can be: block colours, bin tints, foreign colours."""

    blocks: dict[str, np.ndarray]  # palette colour -> mask of saturated pixels of that hue
    bins: dict[str, np.ndarray]  # bin colour (of those asked for) -> mask of pale pixels
    off_palette: np.ndarray  # saturated pixels of no palette hue (foreign colours)


def segment(image: np.ndarray, bin_colors: list[str] = ()) -> Segmentation:
    """Classify every pixel once (hue looked up per integer degree): the masks all users need."""
    hue, sat, val = hsv(image)
    degree = np.rint(hue).astype(np.int16) % 360
    bright = val >= MIN_VALUE
    saturated = bright & (sat >= BLOCK_MIN_SAT)
    pale = bright & (sat >= BIN_SAT_RANGE[0]) & (sat < BIN_SAT_RANGE[1])
    block_label = np.where(saturated, _BLOCK_TABLE[degree], -1)
    blocks = {c: block_label == i for i, c in enumerate(PALETTE_HUES)}
    bins = {}
    if bin_colors:
        # Pale pixels go to the nearest of the scene's own bins: tints of absent colours cannot steal them.
        table = _hue_table(tuple(BIN_HUES[c] for c in bin_colors), BIN_HUE_TOLERANCE)
        pale_label = np.where(pale, table[degree], -1)
        bins = {c: pale_label == i for i, c in enumerate(bin_colors)}
    # Foreign colours are judged on saturated pixels only: pale ones are mostly blends at edges.
    off = saturated & (_BLOCK_TABLE[degree] < 0)
    return Segmentation(blocks, bins, off)


def color_masks(image: np.ndarray, colors: list[str] | None = None) -> dict[str, np.ndarray]:
    """Boolean mask of block-coloured (saturated) pixels per palette colour."""
    blocks = segment(image).blocks
    return {c: blocks[c] for c in (colors or PALETTE_HUES)}


def bin_masks(image: np.ndarray, colors: list[str]) -> dict[str, np.ndarray]:
    """Boolean mask of pale (bin-tinted) pixels per colour, among the scene's bin `colors`."""
    return segment(image, list(colors)).bins


@dataclass
class Blob:
    """A connected region of one colour: pixel count, centroid (u, v), bounding box, mask."""

    area: int
    u: float
    v: float
    bbox: tuple[int, int, int, int]  # u0, v0, u1, v1 (inclusive)
    mask: np.ndarray

    @property
    def bottom(self) -> int:
        return self.bbox[3]

    @property
    def top(self) -> int:
        return self.bbox[1]


def blobs(mask: np.ndarray, min_area: int = 4) -> list[Blob]:
    """Connected components (8-connectivity) of `mask` with at least min_area pixels, largest first."""
    from scipy import ndimage

    labelled, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    found = []
    for index in range(1, count + 1):
        part = labelled == index
        area = int(part.sum())
        if area < min_area:
            continue
        vs, us = np.nonzero(part)
        found.append(Blob(area, float(us.mean()), float(vs.mean()),
                          (int(us.min()), int(vs.min()), int(us.max()), int(vs.max())), part))
    return sorted(found, key=lambda b: -b.area)


def largest_blob(mask: np.ndarray, min_area: int = 4) -> Blob | None:
    """The largest connected component of `mask` (None if there is none of min_area)."""
    found = blobs(mask, min_area)
    return found[0] if found else None


def merged_blob(mask: np.ndarray, min_area: int = 4) -> Blob | None:
    """All pixels of `mask` as one blob (None if fewer than min_area)."""
    area = int(mask.sum())
    if area < min_area:
        return None
    vs, us = np.nonzero(mask)
    return Blob(area, float(us.mean()), float(vs.mean()),
                (int(us.min()), int(vs.min()), int(us.max()), int(vs.max())), mask)


# --- camera geometry (OpenCV pinhole, world_from_camera 4x4) ---

def _pose(camera) -> np.ndarray:
    return np.asarray(camera.world_from_camera, dtype=float)


def project(camera, xyz) -> tuple[float, float]:
    """World point -> pixel (u, v)."""
    pose = _pose(camera)
    pc = pose[:3, :3].T @ (np.asarray(xyz, dtype=float) - pose[:3, 3])
    if pc[2] <= 1e-9:
        raise ValueError(f"point {list(xyz)} is behind the camera")
    return camera.fx * pc[0] / pc[2] + camera.cx, camera.fy * pc[1] / pc[2] + camera.cy


def pixel_ray(camera, u: float, v: float) -> tuple[np.ndarray, np.ndarray]:
    """Origin and unit direction (world frame) of the ray through pixel (u, v)."""
    pose = _pose(camera)
    d_cam = np.array([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, 1.0])
    direction = pose[:3, :3] @ d_cam
    return pose[:3, 3].copy(), direction / np.linalg.norm(direction)


def ray_plane_z(camera, u: float, v: float, z: float) -> np.ndarray:
    """Where the ray through pixel (u, v) meets the horizontal plane at height z."""
    origin, direction = pixel_ray(camera, u, v)
    if abs(direction[2]) < 1e-9:
        raise ValueError(f"pixel ({u:.1f}, {v:.1f}) looks parallel to the plane z={z}")
    t = (z - origin[2]) / direction[2]
    if t <= 0:
        raise ValueError(f"pixel ({u:.1f}, {v:.1f}) does not see the plane z={z}")
    return origin + t * direction


def block_center_from_blob(camera, blob: Blob, center_z: float) -> np.ndarray:
    """A block's centre from its image blob, given the height of its centre. The ray through the
    blob's centroid passes the block's centre (measured 0.5 +- 1.5 mm over 180 renders of the
    "front" camera: the top and front faces balance)."""
    point = ray_plane_z(camera, blob.u, blob.v, center_z)
    return np.array([point[0], point[1], center_z])


def backproject_depth(camera, mask: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """World points (N, 3) of the pixels in `mask`, from metric depth along the optical axis."""
    vs, us = np.nonzero(mask)
    z = depth[vs, us].astype(float)
    pts_cam = np.stack([(us - camera.cx) / camera.fx * z, (vs - camera.cy) / camera.fy * z, z], axis=1)
    pose = _pose(camera)
    return pts_cam @ pose[:3, :3].T + pose[:3, 3]


def block_center_from_depth(camera, mask: np.ndarray, depth: np.ndarray) -> np.ndarray | None:
    """A block's centre from the 3D points of its visible pixels (None if the mask is empty).

    The camera looks along +y, so the block's front face (y = centre - half) is always in
    view, while its top face may be hidden by a block resting on it: the front face gives y,
    the middle of the x extent gives x, the highest point gives z.
    """
    if int(mask.sum()) < 1:
        return None
    pts = backproject_depth(camera, mask, depth)
    x_lo, x_hi = np.percentile(pts[:, 0], [2, 98])
    y_front = float(np.percentile(pts[:, 1], 2))
    top = float(np.percentile(pts[:, 2], 98))
    return np.array([(x_lo + x_hi) / 2, y_front + BLOCK_HALF, top - BLOCK_HALF])


def dilate(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=iterations)


def block_center_from_bottom(camera, blob: Blob, center_z: float) -> np.ndarray:
    """A block's centre from the bottom row of its blob (its front-bottom edge), given the
    height of its centre. Unlike the centroid, this holds when the block's top is hidden
    (a block beneath another one shows only its front face)."""
    rows = blob.mask[blob.bottom]
    us = np.nonzero(rows)[0]
    edge = ray_plane_z(camera, float(us.mean()), blob.bottom + 0.5, center_z - BLOCK_HALF)
    return np.array([edge[0], edge[1] + BLOCK_HALF, center_z])


def silhouette_area(camera, center) -> float:
    """Pixel area of an unoccluded 4 cm cube's silhouette at `center` (convex hull of its corners)."""
    from scipy.spatial import ConvexHull

    h = BLOCK_HALF
    corners = [np.asarray(center, dtype=float) + [sx * h, sy * h, sz * h]
               for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    pts = np.array([project(camera, c) for c in corners])
    return float(ConvexHull(pts).volume)


def _rests_on(camera, upper: Blob, lower: Blob, lower_z: float, tol: float) -> bool:
    """Does `upper` sit on `lower` (whose centre is at lower_z)? Its blob must touch the lower
    blob from above, and both front-bottom edges must give the same x, y."""
    cols = np.nonzero(upper.mask[upper.bottom])[0]
    below = lower.mask[upper.bottom + 1:upper.bottom + 5, :]  # edges of re-encoded images may leave a gap
    if below.size == 0 or not below[:, cols].any():
        return False
    b = block_center_from_bottom(camera, lower, lower_z)
    # The upper block's bottom edge is where re-encoding blurs two colours together; its centroid
    # (a block on top is seen whole) is the steadier estimate. Either agreeing makes it a tower.
    for a in (block_center_from_bottom(camera, upper, lower_z + 2 * BLOCK_HALF),
              block_center_from_blob(camera, upper, lower_z + 2 * BLOCK_HALF)):
        if float(np.linalg.norm(a[:2] - b[:2])) < tol:
            return True
    return False


def block_heights(camera, blobs_by_name: dict[str, Blob], tol: float = 0.02) -> dict[str, float]:
    """Centre height of each block: on the table unless it rests on another block."""
    return stack_structure(camera, blobs_by_name, tol)[0]


def stack_structure(camera, blobs_by_name: dict[str, Blob],
                    tol: float = 0.02) -> tuple[dict[str, float], dict[str, str | None]]:
    """Centre height of each block and the block it rests on (None: the table), found
    bottom-up through the towers seen in the image."""
    heights: dict[str, float] = {}
    supports: dict[str, str | None] = {}
    # The lowest blob in the image (largest bottom row) is nearest the table; resolve bottom-up.
    for name in sorted(blobs_by_name, key=lambda n: -blobs_by_name[n].bottom):
        heights[name], supports[name] = BLOCK_HALF, None
        for other in list(heights)[:-1]:
            if _rests_on(camera, blobs_by_name[name], blobs_by_name[other], heights[other], tol):
                heights[name], supports[name] = heights[other] + 2 * BLOCK_HALF, other
                break
    return heights, supports

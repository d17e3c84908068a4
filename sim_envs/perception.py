"""Perception shared by the perception critic and the executor: one answer to "did this block
move", one bin-centre estimator, one minimum blob size, all robust to what editors do to images.

A generated image is never pixel-exact (realism.py): it is shifted by a few pixels, blurred,
re-encoded, colour- and brightness-shifted and noisy. So two images are compared only after
`compare` has

1. registered them: the integer shift that best aligns the second image's content with the
   first (a truncated-L1 search over +-MAX_SHIFT px on grey levels with their means removed),
   and moved the second image back by it;
2. segmented both (vision.segment) and dropped colour specks under MIN_BLOB_PIXELS;
3. measured each image's own noise, so that changes are judged against it, not against 0.

A block "moved" when, outside the pixels an excluded object covers, its centroid moved by
MOVE_PIXELS or more, or its mask changed by more than MOVE_FRACTION of its area beyond a
one-pixel tolerance (edges of blurred, re-encoded masks wander by a pixel).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from interleave_robot.sim_envs import vision
from interleave_robot.sim_envs.realism import shift_image
from interleave_robot.sim_envs.scene import BIN_HALF

MIN_BLOB_PIXELS = 6  # smaller colour specks are noise (JPEG fringes, mixed edge hues)
MOVE_PIXELS = 1.2  # centroid displacement (px) that counts as a move (a 1 cm push is ~2 px at 128 px)
MOVE_FRACTION = 0.15  # ... or mask pixels changed beyond one pixel, as a fraction of the block's area
MOVE_MIN_CHANGED = 6  # ... and at least this many of them
FULL_VIEW_PIXELS = 60  # below this visible area (a partly hidden block) the centroid threshold grows
BIN_MIN_PIXELS = 40  # a bin's pale region (an 11.6 cm tray covers hundreds of pixels at 128 px)
BIN_FLOOR_Z = 0.002  # a block in a bin rests on its 2 mm floor
MAX_SHIFT = 4  # registration search range (px); editors misregister by a few pixels
_MARGIN = MAX_SHIFT + 1  # border ignored by registration (edge-replicated after a shift)


def register(reference: np.ndarray, image: np.ndarray, max_shift: int = MAX_SHIFT) -> tuple[int, int]:
    """(dx, dy): `image` shows `reference`'s content moved right by dx and down by dy pixels.

    Compared are the grey-level gradients (edges: the table's far edge, the gripper, blocks),
    which an editor's brightness, colour cast and smooth texture leave alone; the L1 cost over
    all pixels keeps the few objects that really moved from dragging the answer."""
    def gradients(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = ndimage.gaussian_filter(img.astype(np.float32).mean(axis=-1), 0.7)
        return ndimage.sobel(grey, axis=1), ndimage.sobel(grey, axis=0)

    (ax, ay), (bx, by) = gradients(reference), gradients(image)
    h, w = ax.shape
    m = _MARGIN
    best, best_cost = (0, 0), np.inf
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            window = (slice(m + dy, h - m + dy), slice(m + dx, w - m + dx))
            cost = float(np.abs(bx[window] - ax[m:h - m, m:w - m]).mean() + np.abs(by[window] - ay[m:h - m, m:w - m]).mean())
            if cost < best_cost:
                best, best_cost = (dx, dy), cost
    return best


def align(image: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """`image` moved back by a `register` shift, into the reference's pixel frame."""
    return shift_image(image, -shift[0], -shift[1])


def clean(mask: np.ndarray, min_area: int = MIN_BLOB_PIXELS, open_lines: bool = True) -> np.ndarray:
    """`mask` without one-pixel-thin lines (shaded rims of bins, blended edges: a 2x2 opening)
    and without connected components smaller than `min_area`."""
    if open_lines:
        mask = ndimage.binary_opening(mask, structure=np.ones((2, 2), dtype=bool))
    labelled, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return mask.copy()
    sizes = ndimage.sum(mask, labelled, index=np.arange(1, count + 1))
    keep = np.concatenate([[False], sizes >= min_area])
    return keep[labelled]


def blobs(mask: np.ndarray) -> list[vision.Blob]:
    """The blobs of a colour mask (at least MIN_BLOB_PIXELS each), largest first."""
    return vision.blobs(mask, min_area=MIN_BLOB_PIXELS)


def high_pass_noise(image: np.ndarray, where: np.ndarray | None = None) -> float:
    """The image's own pixel noise: robust sigma (MAD) of what a 1 px Gaussian blur removes."""
    grey = image.astype(np.float32).mean(axis=-1)
    residual = grey - ndimage.gaussian_filter(grey, 1.0)
    values = residual[where] if where is not None else residual.ravel()
    if values.size < 16:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def block_moved(before: np.ndarray, after: np.ndarray, exclude: np.ndarray | None = None) -> bool:
    """Did the block(s) with these masks (same pixel frame) move? Pixels under `exclude` (what
    another object covers or uncovers) are ignored: being hidden by it is not a move."""
    if exclude is not None:
        before, after = before & ~exclude, after & ~exclude
    area_b, area_a = int(before.sum()), int(after.sum())
    if max(area_b, area_a) < MIN_BLOB_PIXELS:
        return False  # not visible either time
    if min(area_b, area_a) < MIN_BLOB_PIXELS:
        return True  # appeared or disappeared
    vb, ub = np.nonzero(before)
    va, ua = np.nonzero(after)
    shift = float(np.hypot(ua.mean() - ub.mean(), va.mean() - vb.mean()))
    # A move (or a turn) both gains and loses pixels; fading edges (blur, JPEG) only lose them.
    changed = 2 * min(int((after & ~ndimage.binary_dilation(before)).sum()),
                      int((before & ~ndimage.binary_dilation(after)).sum()))
    # A sliver's centroid wanders with its edge pixels: the threshold grows as the visible area shrinks.
    needed = MOVE_PIXELS * max(1.0, float(np.sqrt(FULL_VIEW_PIXELS / min(area_b, area_a))))
    return shift >= needed or changed >= max(MOVE_MIN_CHANGED, MOVE_FRACTION * max(area_b, area_a))


def bin_center(camera, blob: vision.Blob) -> np.ndarray:
    """A bin's centre on the table from its pale footprint in an image: the near wall's foot
    (the blob's bottom row, on the table) is BIN_HALF in front of the centre."""
    us = np.nonzero(blob.mask[blob.bottom])[0]
    edge = vision.ray_plane_z(camera, float(us.mean()), blob.bottom + 0.5, 0.0)
    return np.array([float(edge[0]), float(edge[1] + BIN_HALF), 0.0])


def bin_regions(image: np.ndarray, bin_colors: list[str]) -> dict[str, vision.Blob]:
    """Each bin's region in an image: the pale pixels of any of the scene's bin tints form one
    connected region per bin, and each region goes to the bin colour nearest its median hue
    (an editor's colour cast moves a pale tint's hue pixel by pixel, a region's median barely)."""
    if not bin_colors:
        return {}
    pale = np.logical_or.reduce(list(vision.segment(image, list(bin_colors)).bins.values()))
    regions = [b for b in vision.blobs(clean(pale), min_area=BIN_MIN_PIXELS)]
    hue = vision.hsv(image)[0]
    pairs = sorted((float(vision.hue_distance(np.median(hue[r.mask]), vision.BIN_HUES[c])), i, c)
                   for i, r in enumerate(regions) for c in bin_colors)
    found: dict[str, vision.Blob] = {}
    used = set()
    for _, i, color in pairs:  # nearest pairs first, each region and colour used once
        if color not in found and i not in used:
            found[color], _ = regions[i], used.add(i)
    return found


@dataclass
class Comparison:
    """Two images of one scene in the first one's pixel frame, segmented, with their noise."""

    before: np.ndarray
    after: np.ndarray  # aligned to `before`
    shift: tuple[int, int]  # how `after` was misregistered
    blocks_before: dict[str, np.ndarray]  # colour -> cleaned block mask
    blocks_after: dict[str, np.ndarray]
    bins_before: dict[str, np.ndarray]
    bins_after: dict[str, np.ndarray]
    off_before: np.ndarray  # coloured pixels of no palette hue
    off_after: np.ndarray
    noise_before: float
    noise_after: float

    def moved(self, color: str, exclude: np.ndarray | None = None) -> bool:
        return block_moved(self.blocks_before[color], self.blocks_after[color], exclude)

    def footprint(self, color: str, grow: int = 3) -> np.ndarray:
        """Where a block of this colour is in either image, grown by `grow` px."""
        return ndimage.binary_dilation(self.blocks_before[color] | self.blocks_after[color], iterations=grow)


def compare(before: np.ndarray, after: np.ndarray, colors: list[str], bin_colors: list[str] = ()) -> Comparison:
    """Register `after` to `before`, segment both (block colours `colors`, bin tints `bin_colors`)."""
    if before.shape != after.shape:
        raise ValueError(f"images differ in size: {before.shape} vs {after.shape}")
    shift = register(before, after)
    aligned = align(after, shift)
    seg_b, seg_a = vision.segment(before, list(bin_colors)), vision.segment(aligned, list(bin_colors))
    blocks_b = {c: clean(seg_b.blocks[c]) for c in colors}
    blocks_a = {c: clean(seg_a.blocks[c]) for c in colors}
    objects = np.logical_or.reduce([*blocks_b.values(), *blocks_a.values(), *seg_b.bins.values(),
                                    *seg_a.bins.values(), np.zeros(before.shape[:2], bool)])
    background = ~ndimage.binary_dilation(objects, iterations=2)
    return Comparison(before, aligned, shift, blocks_b, blocks_a, seg_b.bins, seg_a.bins,
                      seg_b.off_palette, seg_a.off_palette,
                      high_pass_noise(before, background), high_pass_noise(aligned, background))

"""Editor realism: what a real image editor does to every image it returns, right or wrong.

An editor never gives back a pixel-exact re-render. `draw_effects(rng, strength)` draws one
image's degradations and `apply_effects(image, effects)` applies them, in the order a pipeline
would: a few pixels of misregistration (the whole frame shifted, edges replicated), a slight
blur, per-channel colour gains and a brightness change, low-frequency "texture" noise and
per-pixel noise, then lossy JPEG re-encoding. `strength` scales every magnitude linearly
(0: no change at all, the pixel-exact re-render; 1: the default, a good editor; 2: a poor one).
At strength s (per image, drawn uniformly up to the bound):
  shift         |dx|, |dy| <= round(2 s) px
  blur          Gaussian sigma <= 0.6 s px
  colour gain   each channel x (1 +- 0.03 s)
  brightness    x (1 +- 0.04 s)
  texture       smooth noise, amplitude <= 3 s grey levels (a 16 px correlation length)
  noise         Gaussian, sigma <= 2 s grey levels
  JPEG          quality 100 - 15 s (s > 0), so 85 at the default
The effects are recorded (JSON) in the generator's metadata; the ground truth of the scene is
the physics state, which the effects never touch.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

MAX_STRENGTH = 3.0


@dataclass
class EditorEffects:
    """One image's degradations (all zero / None at strength 0)."""

    shift: tuple[int, int] = (0, 0)  # (dx, dy) in pixels, the content moves right/down
    blur_sigma: float = 0.0
    channel_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    brightness: float = 1.0
    texture_amplitude: float = 0.0
    noise_sigma: float = 0.0
    jpeg_quality: int | None = None
    seed: int = 0  # of the noise fields

    def to_dict(self) -> dict:
        return asdict(self)


def draw_effects(rng: np.random.Generator, strength: float) -> EditorEffects:
    """One image's effects at `strength` (see the module docstring for the bounds)."""
    if not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"realism strength must be in [0, {MAX_STRENGTH}], got {strength}")
    if strength == 0.0:
        return EditorEffects()
    s = float(strength)
    reach = int(round(2 * s))
    return EditorEffects(
        shift=(int(rng.integers(-reach, reach + 1)), int(rng.integers(-reach, reach + 1))),
        blur_sigma=float(rng.uniform(0.2, 0.6) * s),
        channel_gain=tuple(float(1 + rng.uniform(-0.03, 0.03) * s) for _ in range(3)),
        brightness=float(1 + rng.uniform(-0.04, 0.04) * s),
        texture_amplitude=float(rng.uniform(1.0, 3.0) * s),
        noise_sigma=float(rng.uniform(1.0, 2.0) * s),
        jpeg_quality=int(round(max(5.0, 100 - 15 * s))),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def apply_effects(image: np.ndarray, effects: EditorEffects) -> np.ndarray:
    """The image as the editor returns it (uint8 RGB in, uint8 RGB out; identity at strength 0)."""
    if effects == EditorEffects(seed=effects.seed):
        return image.copy()
    out = shift_image(image, *effects.shift).astype(np.float32)
    if effects.blur_sigma > 0:
        out = ndimage.gaussian_filter(out, sigma=(effects.blur_sigma, effects.blur_sigma, 0))
    out *= np.asarray(effects.channel_gain, dtype=np.float32) * effects.brightness
    rng = np.random.default_rng(effects.seed)
    h, w = image.shape[:2]
    if effects.texture_amplitude > 0:
        out += effects.texture_amplitude * smooth_noise(rng, h, w, 16)[..., None]
    if effects.noise_sigma > 0:
        out += rng.normal(0.0, effects.noise_sigma, out.shape)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if effects.jpeg_quality is not None:
        out = jpeg(out, effects.jpeg_quality)
    return out


def shift_image(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The image moved by (dx, dy) whole pixels, the uncovered border filled from the edge."""
    h, w = image.shape[:2]
    vs = np.clip(np.arange(h) - dy, 0, h - 1)
    us = np.clip(np.arange(w) - dx, 0, w - 1)
    return image[vs][:, us]


def smooth_noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    """Zero-mean noise of unit standard deviation, correlated over about `scale` pixels."""
    coarse = rng.normal(0.0, 1.0, (h // scale + 2, w // scale + 2))
    field = ndimage.zoom(coarse, (h / (coarse.shape[0] - 1), w / (coarse.shape[1] - 1)), order=3)[:h, :w]
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG at `quality` (4:2:0 chroma subsampling, as editors save)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB")).copy()


def rotate_hue(image: np.ndarray, degrees: float) -> np.ndarray:
    """Every pixel's hue turned by `degrees` (saturation and value kept)."""
    rgb = image.astype(np.float32) / 255.0
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    delta = mx - mn
    safe = np.maximum(delta, 1e-6)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.select([mx == r, mx == g], [((g - b) / safe) % 6.0, (b - r) / safe + 2.0], (r - g) / safe + 4.0)
    hue = (hue + degrees / 60.0) % 6.0
    sat = np.where(mx > 0, delta / np.maximum(mx, 1e-6), 0.0)
    k = lambda n: (n + hue) % 6.0  # noqa: E731  (the standard HSV -> RGB form)
    channels = [mx - mx * sat * np.clip(np.minimum(k(n), 4.0 - k(n)), 0.0, 1.0) for n in (5.0, 3.0, 1.0)]
    return np.clip(np.rint(np.stack(channels, axis=-1) * 255.0), 0, 255).astype(np.uint8)


def _blur(image: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius))).copy()


def _noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noisy = image.astype(np.float32) + np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


# Further degradations of an editor's output (issue 9's robustness test): name -> f(image, seed).
PERTURBATIONS = {
    "jpeg q75": lambda im, seed: jpeg(im, 75),
    "blur radius 1": lambda im, seed: _blur(im, 1.0),
    "shift 2 px": lambda im, seed: shift_image(im, 2, 2),
    "hue +5 deg": lambda im, seed: rotate_hue(im, 5.0),
    "hue -5 deg": lambda im, seed: rotate_hue(im, -5.0),
    "brightness +5%": lambda im, seed: np.clip(np.rint(im * 1.05), 0, 255).astype(np.uint8),
    "brightness -5%": lambda im, seed: np.clip(np.rint(im * 0.95), 0, 255).astype(np.uint8),
    "noise sigma 2": lambda im, seed: _noise(im, 2.0, seed),
}

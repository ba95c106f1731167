"""From painted tissue to a stored MR image, the way a scanner makes one.

- Partial volume: a slice is a slab, so the painter samples several planes across the slice thickness
  and they are averaged (study.render_series).
- Texture: every study has its own 3-D noise field; each tissue modulates its signal by it as much as it
  is textured (marrow speckled, muscle streaked, bowel heterogeneous), so no two studies share a texture.
- Coil: a posterior surface coil, so signal falls with distance from the back and towards the ends of the
  coil, as on real lumbar scans (bright back, dark abdomen).
- Acquisition matrix: the image is painted at the acquired resolution, its k-space truncated in the phase
  direction (Gibbs ringing at sharp edges), complex Gaussian noise added, then zero-filled to the stored
  matrix; the magnitude is Rician, with noise correlated over neighbouring pixels as on real images.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from .anatomy import Spine

TEXTURE_STEP = 3.0   # mm between the nodes of a study's texture field


class Texture:
    """A study's own 3-D texture: unit-variance smooth noise on a grid over the body, two scales mixed."""

    def __init__(self, rng: np.random.Generator, sp: Spine):
        self.lo = np.array([-210.0, sp.y0 - 230.0, sp.sacrum_top() - 210.0], np.float32)
        hi = np.array([210.0, sp.y0 + 230.0, sp.z_top + 130.0], np.float32)
        shape = tuple(int(v) for v in np.ceil((hi - self.lo) / TEXTURE_STEP) + 1)
        white = rng.standard_normal(shape, dtype=np.float32)
        fine, coarse = gaussian_filter(white, 0.8), gaussian_filter(white, 2.5)
        field = fine / fine.std() + 0.8 * coarse / coarse.std()
        self.field = (field / field.std()).astype(np.float32)

    def sample(self, X, Y, Z, shape) -> np.ndarray:
        pts = [np.broadcast_to((a - lo) / TEXTURE_STEP, shape).ravel() for a, lo in zip((X, Y, Z), self.lo)]
        return map_coordinates(self.field, pts, order=1, mode="nearest").reshape(shape)


def coil_profile(rng: np.random.Generator, sp: Spine, back: float):
    """A function of patient (Y, Z): posterior surface-coil sensitivity, drawn per series, 1 at the canal
    (so `image_noise` is relative to the signal where the spine is)."""
    depth, floor = rng.uniform(80.0, 180.0), rng.uniform(0.02, 0.12)
    zc, span = sp.disc_z(3) + rng.uniform(-40, 20), rng.uniform(140.0, 240.0)

    def raw(Y, Z):
        near = np.exp(-np.maximum(back - Y, 0.0) / depth)
        return (floor + (1 - floor) * near) * np.exp(-((Z - zc) / span) ** 2)
    at_canal = float(raw(np.float64(sp.canal_y(zc)), np.float64(zc)))
    return lambda Y, Z: raw(Y, Z) / at_canal


def acquire(signal: np.ndarray, rng: np.random.Generator, out_shape: tuple[int, int], phase_lines: int,
            phase_axis: int, noise_sd: float) -> np.ndarray:
    """Stored magnitude image from the signal painted at the acquisition matrix (see the module doc)."""
    n0, n1 = signal.shape
    img = signal.astype(np.complex64)
    img += (rng.standard_normal(signal.shape, dtype=np.float32)
            + 1j * rng.standard_normal(signal.shape, dtype=np.float32)) * np.float32(noise_sd)
    k = np.fft.fftshift(np.fft.fft2(img, norm="ortho"))
    n = k.shape[phase_axis]
    keep = np.zeros(n, bool)
    keep[(n - phase_lines) // 2:(n - phase_lines) // 2 + phase_lines] = True
    k *= (keep[:, None] if phase_axis == 0 else keep[None, :])
    out = np.zeros(out_shape, np.complex64)
    s0, s1 = min(n0, out_shape[0]), min(n1, out_shape[1])
    a0, a1 = (out_shape[0] - s0) // 2, (out_shape[1] - s1) // 2
    b0, b1 = (n0 - s0) // 2, (n1 - s1) // 2
    out[a0:a0 + s0, a1:a1 + s1] = k[b0:b0 + s0, b1:b1 + s1]
    scale = np.sqrt(out_shape[0] * out_shape[1] / (n0 * n1))
    return np.abs(np.fft.ifft2(np.fft.ifftshift(out), norm="ortho")) * np.float32(scale)


def to_12bit(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)

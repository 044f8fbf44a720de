"""Clip-length normalization and apex extraction.

Every clip of a corpus is resampled to one fixed length (CASME II 152, SMIC 90, SAMM 102,
composite 120 frames in seed 000) so that 3D networks see equal-sized inputs.

``tim`` is the temporal interpolation model of Zhou et al. (2011): the frames are treated as
points on a curve defined by the eigenvectors of the path graph's Laplacian, and new frames are
read off that curve at evenly spaced positions. Those eigenvectors are the cosines
``cos(pi * k * (2t + 1) / (2n))``, i.e. the DCT-II basis, so the curve through the frames is their
cosine series: we take the orthonormal DCT over time and evaluate the series at the new
positions. This is the same interpolant as TIM's PCA-reduced formulation (the PCA step only
saves computation when the frames are flattened to long vectors) and it passes exactly through
the original frames, so the first and last frames are kept.

``linear`` interpolates each pixel linearly between the two nearest frames.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

METHODS = ("tim", "linear")


def _positions(n_source: int, length: int) -> np.ndarray:
    return np.linspace(0.0, n_source - 1.0, length)


def tim_interpolate(frames: np.ndarray, length: int) -> np.ndarray:
    """Resample frames [T, ...] to ``length`` frames with the temporal interpolation model."""
    n_source = frames.shape[0]
    if n_source == 1:
        return np.repeat(frames, length, axis=0)
    flat = frames.reshape(n_source, -1).astype(np.float64)
    coefficients = dct(flat, type=2, norm="ortho", axis=0)
    k = np.arange(n_source)
    positions = _positions(n_source, length)
    basis = np.cos(np.pi * np.outer(2 * positions + 1, k) / (2 * n_source))
    basis *= np.where(k == 0, np.sqrt(1.0 / n_source), np.sqrt(2.0 / n_source))
    resampled = basis @ coefficients
    return _like(resampled.reshape((length, *frames.shape[1:])), frames.dtype)


def linear_interpolate(frames: np.ndarray, length: int) -> np.ndarray:
    """Resample frames [T, ...] to ``length`` frames by per-pixel linear interpolation."""
    n_source = frames.shape[0]
    positions = _positions(n_source, length)
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, n_source - 1)
    weight = (positions - lower).reshape((-1,) + (1,) * (frames.ndim - 1))
    source = frames.astype(np.float64)
    resampled = (1.0 - weight) * source[lower] + weight * source[upper]
    return _like(resampled, frames.dtype)


def _like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def normalize_length(frames: np.ndarray, length: int, method: str = "tim") -> np.ndarray:
    """Resample a clip [T, H, W(, C)] to ``length`` frames with ``method`` ('tim' or 'linear')."""
    if length < 1:
        raise ValueError(f"clip length must be >= 1, got {length}")
    if frames.shape[0] < 1:
        raise ValueError("cannot normalise an empty clip")
    if method == "tim":
        return tim_interpolate(frames, length)
    if method == "linear":
        return linear_interpolate(frames, length)
    raise ValueError(f"unknown interpolation {method!r}; expected one of {METHODS}")


def apex_position(onset: int, apex: int, offset: int, length: int) -> int:
    """Index of the apex in a clip of ``length`` frames resampled evenly from onset..offset."""
    if offset <= onset:
        return 0
    fraction = (apex - onset) / (offset - onset)
    return round(min(max(fraction, 0.0), 1.0) * (length - 1))


def onset_apex_pair(frames: np.ndarray, apex_index: int) -> np.ndarray:
    """The onset (first) and apex frames of a clip as [2, H, W(, C)], input of 2D models."""
    return np.stack([frames[0], frames[apex_index]])

"""Shared pieces of the corpus loaders: the error type, the index contract and image reading.

A loader turns one corpus on disk into a *raw index*: a pandas DataFrame with one row per
sample and the columns of ``INDEX_COLUMNS``. Nothing is decoded at this stage except what a
loader needs to validate its input; pixels are read later, clip by clip, by ``read_frames``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Columns every loader returns, in this order (loaders may add corpus-specific ones after).
#: - dataset: corpus kind ("casme2", "samm", "smic", "fer2013", "ckplus", "jaffe")
#: - subject: subject id as the corpus writes it ("sub01", "006", "s1", "S005", "KA")
#: - sample_id: unique within the corpus ("sub01/EP02_01f")
#: - label: the corpus's own emotion word, lower case ("happiness", "negative", "angry")
#: - onset, apex, offset: frame numbers as the corpus numbers them (stills: 0, 0, 0)
#: - n_frames_raw: number of frames listed in ``frames``
#: - frames: absolute paths of the frames from onset to offset inclusive, in temporal order
#: - apex_imputed, offset_repaired: True where a known erratum of the coding sheet was fixed
#: - pixels: only FER2013 (frames empty there): the 48x48 image as the CSV's space-separated
#:   string of 2304 values, already validated by the loader
INDEX_COLUMNS = (
    "dataset",
    "subject",
    "sample_id",
    "label",
    "onset",
    "apex",
    "offset",
    "n_frames_raw",
    "frames",
    "apex_imputed",
    "offset_repaired",
)


class CorpusError(ValueError):
    """Malformed corpus input. The message names the file (and row or column) and what was
    expected, so the user can fix their copy of the corpus."""


def read_image(path: str | Path) -> np.ndarray:
    """Read one frame as an RGB uint8 array [H, W, 3] (grayscale sources are replicated)."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError as error:
        raise CorpusError(f"{path}: frame file is missing") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CorpusError(f"{path}: unreadable image ({error})") from error


def read_frames(frames: Sequence[str]) -> np.ndarray:
    """Read a clip's frames as an RGB uint8 array [T, H, W, 3]."""
    images = [read_image(path) for path in frames]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise CorpusError(
            f"{Path(frames[0]).parent}: frames of one clip differ in size {sorted(shapes)}"
        )
    return np.stack(images)


def read_sample(row: dict) -> np.ndarray:
    """Read one index row's pixels as RGB uint8 [T, H, W, 3] (T = 1 for stills)."""
    pixels = row.get("pixels")
    if isinstance(pixels, str):
        gray = np.asarray(pixels.split(), dtype=np.uint8).reshape(48, 48)
        return np.repeat(gray[None, :, :, None], 3, axis=-1)
    return read_frames(row["frames"])

"""Shared pieces of the corpus loaders: the error type, the index contract and image reading.

A loader turns one corpus on disk into a *raw index*: a pandas DataFrame with one row per
sample and the columns of ``INDEX_COLUMNS``. Nothing is decoded at this stage except what a
loader needs to validate its input; pixels are read later, clip by clip, by ``read_sample``,
which reports the frames it cannot use instead of failing (the preparation applies its policy
for unreadable frames, see ``preprocessing.alignment``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    image, problem = _decode(path)
    if image is None:
        raise CorpusError(f"{path}: {problem}")
    return image


def _decode(path: str | Path) -> tuple[np.ndarray | None, str]:
    """(RGB uint8 [H, W, 3], "") or (None, why the file cannot be read)."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8), ""
    except FileNotFoundError:
        return None, "frame file is missing"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return None, f"unreadable image ({error})"


@dataclass
class SampleFrames:
    """A sample's frames as read: ``images[i]`` is RGB uint8 [H, W, 3], or None where
    ``unreadable[i]`` gives (file, why) for a frame that could not be used."""

    images: list[np.ndarray | None]
    unreadable: dict[int, tuple[str, str]] = field(default_factory=dict)

    def stacked(self) -> np.ndarray:
        """All frames as [T, H, W, 3]; CorpusError naming the first unusable file."""
        if self.unreadable:
            path, problem = self.unreadable[min(self.unreadable)]
            raise CorpusError(f"{path}: {problem}")
        return np.stack(self.images)


def read_frames(frames: Sequence[str]) -> SampleFrames:
    """Read a clip's frames, going on past the ones that cannot be used.

    A frame cannot be used when its file is missing or cannot be decoded, or when its size
    differs from the clip's most common frame size (on a tie, the size met first).
    """
    images, unreadable = [], {}
    for position, path in enumerate(frames):
        image, problem = _decode(path)
        images.append(image)
        if image is None:
            unreadable[position] = (str(path), problem)
    sizes = Counter(image.shape[:2] for image in images if image is not None)
    clip_size = sizes.most_common(1)[0][0] if sizes else None
    for position, image in enumerate(images):
        if image is not None and image.shape[:2] != clip_size:
            sizes_seen = f"{_width_height(image.shape)}, most frames are {_width_height(clip_size)}"
            unreadable[position] = (str(frames[position]), f"frame size {sizes_seen}")
            images[position] = None
    return SampleFrames(images, dict(sorted(unreadable.items())))


def _width_height(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"


def read_sample(row: dict) -> SampleFrames:
    """Read one index row's frames (one for stills; FER2013's pixels are always readable)."""
    pixels = row.get("pixels")
    if isinstance(pixels, str):
        gray = np.asarray(pixels.split(), dtype=np.uint8).reshape(48, 48)
        return SampleFrames([np.repeat(gray[:, :, None], 3, axis=-1)])
    return read_frames(row["frames"])

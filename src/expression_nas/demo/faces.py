"""Base face photos and the subject identities of the demo corpora.

Every face is a real photograph that ships inside an installed package, so nothing is fetched
from the network:

- scikit-image's ``astronaut()`` (Eileen Collins, 512x512 colour),
- matplotlib's sample ``grace_hopper.jpg`` (Grace Hopper, 600x512 colour),
- scikit-image's ``lfw_subset()``: its first 100 images are 25x25 grayscale face crops from
  Labeled Faces in the Wild (one photo per identity used here).

An :class:`Identity` names one photo plus a few deterministic variations (mirror, zoom, shift,
skin tone, brightness); :func:`render_face` turns it into a neutral face frame of a given size
with its five facial landmarks (eye centres, nose tip, mouth corners). An identity with a
``face_fraction`` is drawn smaller than its frame, on a synthetic background that the photo
fades into (used by the FER corpora): the 25x25 LFW crops end at the cheeks, and stretching
their edge pixels to the frame's border left streaks once an aligner cropped around the face.

The FER corpora leave out the photos whose own expression would contradict a synthetic label
(``LFW_EXPRESSIVE`` and the smiling astronaut); CK+ and JAFFE have subjects of their own, and
FER2013 uses every neutral-looking photo, with its Training people disjoint from the people of
its two test splits (``fer2013_pools``). The landmarks of the
base photos were measured once with facenet-pytorch's MTCNN (on 144x144 upscales for LFW) and
are stored below, so rendering needs neither torch nor a detector and is bit-for-bit
reproducible. ``tests/demo/test_faces.py`` checks that MTCNN still finds every face used.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from matplotlib import cbook
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data
from skimage.transform import AffineTransform, warp

#: Order of the five landmarks (MTCNN's order; "left" is the image's left).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

#: ITU-R 601 luma weights (what Pillow's ``convert("L")`` uses).
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

#: Landmarks of the two high-resolution photos, in their own pixel coordinates (x, y).
PHOTO_LANDMARKS: dict[str, tuple[float, ...]] = {
    "astronaut": (205.0, 101.7, 246.8, 103.7, 224.7, 129.0, 201.7, 139.2, 245.3, 141.9),
    "grace_hopper": (221.7, 192.2, 309.8, 186.1, 269.4, 239.2, 232.7, 279.6, 306.6, 275.9),
}

#: Landmarks of the LFW faces (index into ``lfw_subset()``) in 25x25 pixel coordinates.
#: Left out: images 30 and 83 (MTCNN finds no face) and 1, 4, 9, 13, 16, 21, 28, 31, 40, 57,
#: 76, 82, 96, 97, 99 (on some rendered variant MTCNN scores them below 0.95 or misplaces a
#: landmark by more than a quarter of the eye distance).
LFW_LANDMARKS: dict[int, tuple[float, ...]] = {
    0: (7.9, 8.9, 16.6, 8.8, 13.2, 13.8, 9.1, 19.2, 15.7, 19.2),
    2: (2.2, 7.3, 11.9, 5.9, 5.9, 13.1, 4.2, 18.0, 13.1, 16.9),
    3: (6.9, 9.3, 15.6, 9.1, 11.6, 14.3, 7.9, 18.6, 15.2, 18.7),
    5: (4.9, 8.4, 14.2, 6.6, 7.8, 12.0, 6.7, 18.5, 13.9, 17.2),
    6: (4.3, 9.7, 14.2, 9.6, 8.9, 15.3, 5.2, 19.7, 13.2, 19.6),
    7: (5.3, 9.2, 14.7, 8.8, 9.5, 15.4, 7.0, 20.0, 14.1, 19.8),
    8: (5.3, 8.6, 14.6, 8.2, 9.8, 13.1, 6.0, 17.5, 14.6, 17.4),
    10: (4.8, 8.2, 14.8, 7.6, 9.5, 13.7, 5.6, 18.0, 14.9, 17.6),
    11: (8.0, 9.9, 16.8, 9.7, 12.8, 15.3, 8.5, 18.7, 16.6, 18.7),
    12: (5.9, 9.7, 14.6, 9.7, 10.2, 13.7, 6.8, 19.3, 13.7, 19.3),
    14: (1.7, 7.6, 12.6, 6.4, 6.3, 11.9, 3.7, 19.2, 12.4, 18.5),
    15: (6.3, 8.2, 15.6, 7.5, 11.9, 14.1, 7.2, 17.4, 15.7, 16.9),
    17: (8.6, 8.7, 16.1, 8.6, 12.2, 12.9, 9.4, 16.9, 15.7, 16.9),
    18: (6.2, 9.1, 15.7, 8.9, 9.4, 14.3, 6.5, 17.7, 14.5, 17.5),
    19: (5.3, 6.8, 15.0, 6.6, 10.6, 10.8, 6.2, 16.6, 14.9, 16.6),
    20: (3.2, 7.6, 13.5, 7.3, 7.0, 11.9, 4.5, 17.7, 13.0, 17.5),
    22: (5.4, 9.6, 14.7, 8.5, 9.8, 14.7, 7.2, 18.7, 15.6, 18.0),
    23: (5.9, 8.0, 15.8, 7.5, 11.6, 13.8, 5.9, 16.9, 15.8, 16.7),
    24: (6.4, 8.9, 15.1, 8.8, 11.4, 13.7, 7.0, 18.5, 14.7, 18.3),
    25: (7.2, 8.3, 16.7, 8.9, 13.0, 12.6, 7.5, 17.7, 15.5, 18.3),
    26: (5.1, 9.5, 14.2, 8.4, 9.9, 13.6, 6.8, 18.9, 14.8, 17.9),
    27: (5.4, 9.7, 14.8, 8.7, 10.2, 13.2, 6.5, 17.6, 15.5, 16.7),
    29: (5.9, 9.4, 15.9, 9.2, 11.9, 13.6, 7.7, 21.0, 15.2, 21.0),
    32: (4.3, 8.3, 13.2, 8.2, 8.5, 13.5, 5.3, 18.5, 11.7, 18.6),
    33: (6.1, 9.0, 14.3, 9.2, 9.5, 14.8, 7.3, 18.8, 14.1, 18.6),
    34: (6.1, 9.3, 14.4, 8.9, 10.3, 14.3, 7.4, 18.7, 14.1, 18.4),
    35: (3.5, 7.5, 13.5, 7.5, 7.0, 12.8, 4.0, 19.1, 11.9, 19.3),
    36: (7.4, 8.9, 15.9, 9.5, 11.4, 15.3, 7.0, 17.6, 15.0, 18.4),
    37: (7.2, 10.3, 15.5, 9.5, 11.6, 12.9, 7.9, 17.7, 16.4, 16.7),
    38: (6.7, 8.3, 15.9, 8.0, 12.6, 13.3, 6.9, 17.7, 15.9, 17.5),
    39: (5.6, 9.2, 14.3, 8.4, 10.0, 12.4, 7.1, 18.5, 13.8, 18.0),
    41: (5.8, 8.0, 14.5, 7.8, 9.7, 13.4, 6.1, 17.2, 14.3, 17.2),
    42: (5.4, 7.2, 14.7, 6.2, 8.5, 11.9, 6.9, 18.1, 13.8, 17.5),
    43: (5.8, 9.5, 13.7, 9.3, 9.3, 14.4, 6.5, 17.4, 13.7, 17.4),
    44: (5.8, 8.2, 15.5, 8.1, 12.3, 12.5, 7.7, 19.2, 15.5, 19.2),
    45: (4.1, 7.5, 14.1, 7.3, 9.6, 13.4, 4.5, 17.4, 13.8, 17.1),
    46: (4.9, 9.0, 14.4, 8.0, 9.3, 14.2, 6.6, 18.4, 14.2, 17.7),
    47: (3.7, 8.8, 10.9, 8.7, 5.9, 14.4, 5.0, 17.7, 11.0, 17.7),
    48: (7.0, 9.3, 14.4, 9.2, 9.2, 12.8, 7.9, 18.1, 13.3, 18.1),
    49: (5.3, 8.4, 14.5, 7.4, 9.7, 13.6, 7.5, 19.6, 13.7, 18.9),
    50: (4.4, 8.0, 14.2, 8.0, 8.9, 14.2, 5.0, 17.5, 13.8, 17.3),
    51: (5.9, 8.9, 14.0, 8.4, 8.8, 13.0, 7.6, 19.2, 13.6, 19.0),
    52: (4.0, 7.4, 14.4, 7.0, 8.9, 12.2, 4.3, 16.7, 15.1, 16.2),
    53: (6.3, 6.5, 16.0, 7.4, 12.6, 10.1, 6.4, 17.0, 15.2, 17.8),
    54: (4.3, 7.7, 14.5, 7.2, 9.5, 14.0, 6.7, 18.9, 13.8, 18.6),
    55: (3.9, 5.8, 14.7, 5.8, 9.4, 13.0, 5.5, 17.9, 13.4, 18.2),
    56: (3.7, 7.3, 13.6, 7.1, 8.0, 12.8, 5.3, 18.3, 13.2, 18.6),
    58: (8.3, 9.4, 17.2, 9.1, 14.5, 13.9, 9.5, 19.1, 16.8, 18.9),
    59: (5.4, 9.0, 13.8, 7.5, 11.5, 12.6, 8.2, 18.6, 14.7, 17.5),
    60: (2.1, 7.2, 13.8, 6.9, 7.9, 12.6, 3.6, 19.4, 12.7, 19.3),
    61: (4.6, 9.4, 14.6, 8.4, 10.0, 13.9, 6.1, 19.0, 15.1, 18.1),
    62: (6.4, 9.4, 14.7, 9.1, 10.1, 14.7, 7.5, 18.7, 13.9, 18.6),
    63: (1.3, 6.9, 11.9, 5.7, 5.6, 12.6, 3.2, 17.5, 12.1, 16.6),
    64: (6.6, 8.4, 14.8, 7.8, 10.4, 11.5, 8.0, 17.5, 14.7, 17.1),
    65: (3.1, 8.9, 12.5, 8.3, 6.9, 13.3, 4.2, 19.0, 12.5, 18.6),
    66: (4.7, 7.7, 14.5, 7.3, 8.8, 12.8, 6.1, 18.4, 13.0, 18.3),
    67: (8.4, 9.7, 15.7, 10.6, 11.3, 14.7, 7.6, 17.5, 14.0, 18.5),
    68: (4.6, 12.4, 13.4, 12.0, 8.3, 18.4, 5.5, 21.2, 13.2, 21.0),
    69: (5.6, 8.1, 15.4, 7.8, 10.7, 13.6, 5.6, 17.2, 15.5, 17.2),
    70: (8.3, 8.0, 15.8, 8.7, 11.0, 12.9, 8.0, 16.3, 14.2, 17.0),
    71: (4.7, 9.6, 14.3, 9.5, 8.9, 15.6, 6.0, 19.9, 13.9, 20.0),
    72: (5.1, 7.6, 15.1, 7.3, 10.1, 13.6, 6.2, 18.1, 14.6, 18.1),
    73: (4.4, 8.6, 13.8, 8.4, 8.7, 14.0, 5.4, 18.7, 13.6, 18.5),
    74: (3.8, 9.0, 12.6, 8.1, 6.3, 14.2, 4.5, 17.7, 13.9, 17.1),
    75: (3.9, 8.1, 12.0, 9.2, 4.6, 13.7, 3.3, 18.3, 10.5, 18.9),
    77: (5.4, 8.5, 15.4, 8.0, 11.6, 14.1, 7.2, 19.8, 14.8, 19.3),
    78: (4.2, 9.8, 13.7, 9.5, 7.2, 14.1, 4.5, 18.6, 12.7, 18.5),
    79: (6.5, 10.6, 14.8, 10.1, 10.7, 15.2, 7.4, 19.1, 15.1, 18.9),
    80: (5.3, 9.7, 14.8, 9.2, 10.5, 14.2, 6.9, 19.4, 14.2, 19.0),
    81: (7.6, 8.0, 16.4, 8.1, 12.7, 13.3, 7.6, 16.8, 16.1, 16.8),
    84: (6.9, 9.9, 15.0, 9.0, 12.3, 14.1, 8.1, 18.5, 15.1, 17.6),
    85: (3.7, 8.0, 13.9, 7.5, 8.7, 12.8, 4.9, 17.4, 14.8, 17.2),
    86: (5.1, 7.4, 15.1, 7.4, 9.7, 14.6, 5.5, 17.5, 14.5, 17.8),
    87: (7.8, 9.4, 15.8, 8.5, 13.4, 13.9, 9.4, 18.6, 16.3, 17.8),
    88: (6.3, 8.4, 15.9, 7.8, 11.4, 13.1, 7.6, 18.2, 15.8, 17.9),
    89: (1.3, 10.0, 11.2, 8.6, 4.7, 14.2, 2.8, 19.8, 11.5, 18.6),
    90: (7.3, 8.4, 15.8, 8.0, 13.0, 13.0, 8.5, 18.5, 15.7, 18.3),
    91: (4.7, 8.2, 14.6, 7.5, 10.2, 12.9, 5.9, 17.3, 15.3, 16.9),
    92: (6.0, 9.7, 15.1, 8.4, 11.2, 13.6, 8.2, 19.0, 15.5, 18.1),
    93: (5.7, 7.8, 15.9, 7.4, 11.4, 13.4, 6.9, 17.4, 15.7, 17.2),
    94: (5.7, 6.3, 15.5, 6.5, 9.9, 13.2, 5.5, 15.9, 15.4, 16.1),
    95: (4.2, 7.2, 14.8, 6.9, 9.4, 12.8, 5.2, 18.1, 14.0, 18.0),
    98: (6.4, 7.8, 16.3, 7.6, 12.1, 14.0, 7.3, 18.4, 15.2, 18.3),
}

#: LFW faces that smile broadly, show their teeth or open their mouths (picked by eye on the
#: 25x25 crops). A posed demo expression is drawn on top of a photo's own one, so the FER
#: corpora leave them out; the MER corpora keep them (a micro-expression is a change over a
#: clip, against the subject's own onset frame).
LFW_EXPRESSIVE = frozenset(
    {0, 18, 19, 22, 24, 29, 33, 36, 37, 38, 41, 45, 49, 50, 51, 52, 53, 58, 59, 61, 64}
    | {69, 74, 75, 77, 79, 81, 84, 85, 91, 93, 94}
)
#: LFW faces that MTCNN misses or scores below 0.9 once drawn on a background with a posed
#: expression (``face_fraction``; checked in tests/demo/test_faces.py).
LFW_UNDETECTED_ON_BACKGROUND = frozenset({20, 23, 32, 89})

#: Skin tones given to grayscale LFW faces in colour corpora: per-channel gamma exponents
#: (R, G, B) applied to the gray level, so shadows turn brown and highlights stay white (MTCNN
#: places its landmarks better on these than on a flat sepia tint).
SKIN_TONES = (
    (0.85, 1.00, 1.25),
    (0.80, 1.00, 1.20),
    (0.90, 1.00, 1.30),
    (0.85, 1.05, 1.30),
    (0.88, 1.00, 1.18),
    (0.82, 0.98, 1.22),
)
#: The LFW landmarks were measured on 144x144 upscales and stored as ``x * 25 / 144``; this
#: moves them to pixel-centre coordinates of the 25x25 image.
LFW_LANDMARK_OFFSET = 0.5 * 25 / 144 - 0.5

#: Fraction of the frame width between the eyes, and where the eye midpoint sits, when a
#: high-resolution photo is framed (close to the LFW crops' average framing).
PHOTO_INTEROCULAR = 0.375
PHOTO_EYES_AT = (0.5, 0.37)
#: Standard deviation (gray levels) of the fixed skin texture added to every face.
TEXTURE_STD = 2.5
#: Eye distance of an average LFW crop, as a fraction of its side: a photo drawn with a
#: ``face_fraction`` is scaled to the same proportions as the LFW faces beside it.
LFW_INTEROCULAR = 0.38
#: Half axes (across, down) of the oval of an LFW photo that a ``face_fraction`` keeps, in eye
#: distances from the centre between the eyes and the mouth, and the width of its fade into
#: the background (a fraction of the oval's radius).
FACE_OVAL = (1.35, 1.7)
BACKGROUND_FEATHER = 0.25


@dataclass(frozen=True)
class Identity:
    """One demo subject: a base photo plus deterministic variations of it."""

    name: str
    source: str  # "astronaut", "grace_hopper" or "lfw"
    index: int = 0  # image index for "lfw"
    mirror: bool = False
    zoom: float = 1.0  # > 1: face larger in the frame
    shift: tuple[float, float] = (0.0, 0.0)  # (x, y) offset of the face, fraction of the frame
    tone: tuple[float, float, float] = SKIN_TONES[0]  # skin tone of grayscale photos in colour
    gain: float = 1.0  # brightness
    #: None: the photo fills the frame (LFW) or is cropped from its own surroundings (the two
    #: photos). A number: the LFW crop spans this fraction of the frame's side (the two photos
    #: are scaled alike) and fades into a synthetic background.
    face_fraction: float | None = None


@dataclass(frozen=True)
class Face:
    """A neutral face frame ready for motion synthesis.

    ``image`` is float32 [H, W, C] in gray levels 0..255 (C = 1 or 3, read-only); when
    ``tone`` is set, the frame is grayscale and becomes colour through :meth:`colorize` after
    warping (cheaper than warping three equal channels). ``landmarks`` is [5, 2] (x, y) in
    ``LANDMARK_NAMES`` order.
    """

    identity: Identity
    image: np.ndarray
    landmarks: np.ndarray
    tone: tuple[float, float, float] | None = field(default=None)

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    @property
    def channels(self) -> int:
        """Channels of the frames this face produces (1 gray, 3 colour)."""
        return 3 if self.tone is not None else int(self.image.shape[2])

    @property
    def interocular(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    def colorize(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames [..., 1] of this face -> [..., channels] (skin tone where set)."""
        if self.tone is None:
            return frames
        return _tone_table(self.tone)[frames[..., 0]]


@lru_cache(maxsize=32)
def _tone_table(tone: tuple[float, float, float]) -> np.ndarray:
    """Lookup table gray level -> RGB for a skin tone (gamma exponents per channel)."""
    levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
    table = np.rint(255.0 * levels ** np.asarray(tone)[None, :]).astype(np.uint8)
    table.setflags(write=False)
    return table


def available_lfw_indices() -> tuple[int, ...]:
    """LFW images with stored landmarks (MTCNN finds a face in them)."""
    return tuple(sorted(LFW_LANDMARKS))


def _frontal_score(index: int) -> float:
    """Lower is better: a centred, level, frontal face of typical size in its 25x25 crop."""
    points = np.asarray(LFW_LANDMARKS[index], dtype=float).reshape(5, 2)
    eyes = (points[0] + points[1]) / 2
    mouth = (points[3] + points[4]) / 2
    interocular = np.linalg.norm(points[1] - points[0])
    return float(
        abs(eyes[0] - 11.5)  # horizontally centred
        + abs(eyes[1] - 8.7)  # eyes at the usual height
        + 2 * abs(points[1, 1] - points[0, 1])  # level
        + 2 * abs(points[2, 0] - eyes[0])  # nose between the eyes: frontal
        + abs(mouth[0] - eyes[0])
        + abs(interocular - 9.5)
    )


@lru_cache(maxsize=1)
def frontal_lfw_indices() -> tuple[int, ...]:
    """LFW images ordered from the most to the least frontal and centred face."""
    return tuple(sorted(LFW_LANDMARKS, key=lambda index: (_frontal_score(index), index)))


@lru_cache(maxsize=8)
def _lfw_images() -> np.ndarray:
    faces = data.lfw_subset()[:100]  # float64 in 0..1, shipped inside scikit-image
    return (faces * 255.0).astype(np.float32)


@lru_cache(maxsize=4)
def _photo(source: str) -> np.ndarray:
    if source == "astronaut":
        return data.astronaut().astype(np.float32)
    if source == "grace_hopper":
        with cbook.get_sample_data("grace_hopper.jpg") as handle, Image.open(handle) as image:
            return np.asarray(image.convert("RGB"), dtype=np.float32)
    raise ValueError(f"unknown photo {source!r}, expected 'astronaut' or 'grace_hopper'")


def base_photo(source: str, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A base photo (float32 [H, W, C], 0..255, C = 1 for LFW) and its landmarks [5, 2]."""
    if source == "lfw":
        if index not in LFW_LANDMARKS:
            raise ValueError(f"LFW image {index} has no stored landmarks (no face found)")
        image = _lfw_images()[index][:, :, None]
        points = np.asarray(LFW_LANDMARKS[index]).reshape(5, 2) + LFW_LANDMARK_OFFSET
    else:
        image = _photo(source)
        points = np.asarray(PHOTO_LANDMARKS[source]).reshape(5, 2)
    return image, points.astype(np.float64)


def _framing(identity: Identity, source_shape: tuple[int, ...], landmarks: np.ndarray, size: int):
    """Source centre, source pixels per output pixel and output centre of the crop."""
    if identity.source == "lfw":
        height, width = source_shape[:2]
        scale = max(height, width) / (size * (identity.face_fraction or 1.0))
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
    else:
        interocular = np.linalg.norm(landmarks[1] - landmarks[0])
        fraction = (
            PHOTO_INTEROCULAR
            if identity.face_fraction is None
            else LFW_INTEROCULAR * identity.face_fraction
        )
        scale = interocular / (fraction * size)
        eyes = (landmarks[0] + landmarks[1]) / 2
        eyes_out = np.asarray(PHOTO_EYES_AT) * size  # where the eye midpoint is drawn
        centre = eyes - scale * (eyes_out - (size - 1) / 2)
    scale /= identity.zoom
    out_centre = np.array([(size - 1) / 2, (size - 1) / 2]) + np.asarray(identity.shift) * size
    return centre, scale, out_centre


def _output_to_source(
    identity: Identity, source_shape: tuple[int, ...], landmarks: np.ndarray, size: int
) -> np.ndarray:
    """3x3 matrix taking output (x, y, 1) to source (x, y, 1): src = c + s * (out - out_c)."""
    centre, scale, out_centre = _framing(identity, source_shape, landmarks, size)
    return np.array(
        [
            [scale, 0.0, centre[0] - scale * out_centre[0]],
            [0.0, scale, centre[1] - scale * out_centre[1]],
            [0.0, 0.0, 1.0],
        ]
    )


@lru_cache(maxsize=512)
def render_face(identity: Identity, size: int, color: bool = True) -> Face:
    """The neutral face of ``identity`` as a ``size`` x ``size`` frame (cached per process)."""
    image, landmarks = base_photo(identity.source, identity.index)
    if not color and image.shape[2] == 3:
        image = (image @ LUMA)[:, :, None]
    matrix = _output_to_source(identity, image.shape, landmarks, size)
    scale = matrix[0, 0]
    if scale > 1.0:  # anti-alias before shrinking
        sigma = (scale - 1.0) / 2.0
        image = gaussian_filter(image, sigma=(sigma, sigma, 0.0), mode="nearest")
    frame = warp(
        image,
        AffineTransform(matrix=matrix),
        output_shape=(size, size, image.shape[2]),
        order=3,
        mode="edge",
        preserve_range=True,
    ).astype(np.float32)
    if identity.face_fraction is not None and identity.source == "lfw":
        weight = photo_weight(identity, image.shape, landmarks, size)[:, :, None]
        frame = weight * frame + (1.0 - weight) * _background(identity, image, size)
    points = (landmarks - matrix[:2, 2]) / scale
    if identity.mirror:
        frame = frame[:, ::-1]
        points[:, 0] = size - 1 - points[:, 0]
        points = points[[1, 0, 2, 4, 3]]  # left and right swap
    texture_rng = np.random.default_rng(zlib.crc32(f"{identity.name}/{size}".encode()))
    texture = gaussian_filter(texture_rng.standard_normal((size, size)), sigma=0.7)
    texture *= TEXTURE_STD / max(float(texture.std()), 1e-6)
    frame = frame * identity.gain + texture[:, :, None].astype(np.float32)
    frame = np.clip(frame, 0.0, 255.0).astype(np.float32)
    frame.setflags(write=False)
    tone = identity.tone if color and frame.shape[2] == 1 else None
    return Face(identity=identity, image=frame, landmarks=points, tone=tone)


def photo_weight(
    identity: Identity, source_shape: tuple[int, ...], landmarks: np.ndarray, size: int
) -> np.ndarray:
    """Weight [size, size] of an LFW photo against the background (before mirroring).

    The photo is kept inside an oval around its face (``FACE_OVAL``, from the landmarks) and
    inside its own crop; its weight falls from 1 to 0 over the outer ``BACKGROUND_FEATHER`` of
    both, so no output pixel shows the crop's edge, stretched or not.
    """
    height, width = source_shape[:2]
    matrix = _output_to_source(identity, source_shape, landmarks, size)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    source_x = matrix[0, 0] * xs + matrix[0, 2]
    source_y = matrix[1, 1] * ys + matrix[1, 2]
    centre = (landmarks[0] + landmarks[1] + landmarks[3] + landmarks[4]) / 4
    interocular = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    oval = np.hypot(
        (source_x - centre[0]) / (FACE_OVAL[0] * interocular),
        (source_y - centre[1]) / (FACE_OVAL[1] * interocular),
    )
    crop = np.maximum(
        np.abs(source_x - (width - 1) / 2) / (width / 2),
        np.abs(source_y - (height - 1) / 2) / (height / 2),
    )
    ramp = np.clip((1.0 - np.maximum(oval, crop)) / BACKGROUND_FEATHER, 0.0, 1.0)
    return (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)  # smoothstep


def _background(identity: Identity, source: np.ndarray, size: int) -> np.ndarray:
    """A smooth backdrop [size, size, C]: the level of the photo's outer ring of pixels, with
    a gentle light gradient and blotches (fixed per identity)."""
    rng = np.random.default_rng(zlib.crc32(f"{identity.name}/background/{size}".encode()))
    ring = np.concatenate([source[0], source[-1], source[:, 0], source[:, -1]], axis=0)
    level = np.median(ring, axis=0)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) / size - 0.5
    angle = rng.uniform(0.0, 2.0 * np.pi)
    gradient = rng.uniform(10.0, 30.0) * (np.cos(angle) * xs + np.sin(angle) * ys)
    blotches = gaussian_filter(rng.standard_normal((size, size)), sigma=size / 10)
    blotches *= 6.0 / max(float(blotches.std()), 1e-6)
    return (level[None, None, :] + (gradient + blotches)[:, :, None]).astype(np.float32)


def neutral_frame(face: Face) -> np.ndarray:
    """The face's neutral frame as uint8 [H, W, channels]."""
    return face.colorize(np.clip(np.rint(face.image), 0, 255).astype(np.uint8))


def lfw_identity(index: int, variant: int = 0, face_fraction: float | None = None) -> Identity:
    """Identity from LFW image ``index``; ``variant`` picks its tone (and mirrors odd ones)."""
    return Identity(
        name=f"lfw{index:02d}" + (f"v{variant}" if variant else ""),
        source="lfw",
        index=index,
        mirror=bool(variant % 2),
        tone=SKIN_TONES[(index + variant) % len(SKIN_TONES)],
        face_fraction=face_fraction,
    )


ASTRONAUT = Identity(name="astronaut", source="astronaut")
GRACE_HOPPER = Identity(name="grace_hopper", source="grace_hopper", gain=1.05)

MER_KINDS = ("casme2", "samm", "smic")
#: How much of a CK+ or JAFFE frame the face's photo spans (the rest is background, so that an
#: aligner's crop with a margin stays inside the photo), and of a FER2013 48x48 image.
POSED_FACE_FRACTION = 0.7
FER2013_FACE_FRACTION = 1.0
#: JAFFE's ten subjects come first from the neutral-looking photos, then CK+'s; FER2013 uses
#: them all. Every few-th of them (in frontal order) is a FER2013 test person.
JAFFE_PEOPLE = 10
FER2013_TEST_EVERY = 4


@lru_cache(maxsize=1)
def _mer_lfw() -> dict[str, tuple[int, ...]]:
    """LFW images of each MER corpus, disjoint, most frontal first (checked with MTCNN on the
    rendered frames; see tests/demo/test_faces.py)."""
    order = list(frontal_lfw_indices())
    pools = {}
    for kind, count in {"casme2": 7, "samm": 7, "smic": 8}.items():
        pools[kind], order = tuple(order[:count]), order[count:]
    return pools


@lru_cache(maxsize=1)
def neutral_lfw_indices() -> tuple[int, ...]:
    """LFW images whose own expression is neutral enough for a posed one, most frontal first."""
    left_out = LFW_EXPRESSIVE | LFW_UNDETECTED_ON_BACKGROUND
    return tuple(index for index in frontal_lfw_indices() if index not in left_out)


def _posed_bases(kind: str) -> list[Identity]:
    """The distinct people of CK+ or JAFFE: JAFFE's come first, CK+ has the rest."""
    people = [
        lfw_identity(index, face_fraction=POSED_FACE_FRACTION) for index in neutral_lfw_indices()
    ]
    if kind == "jaffe":
        return people[:JAFFE_PEOPLE]
    return [*people[JAFFE_PEOPLE:], replace(GRACE_HOPPER, face_fraction=POSED_FACE_FRACTION)]


def corpus_identities(kind: str, count: int) -> list[Identity]:
    """``count`` distinct subject identities for demo corpus ``kind``.

    Each MER corpus has its own photos: CASME II starts with the astronaut, SAMM with Grace
    Hopper, followed by LFW faces no other MER corpus uses. CK+ and JAFFE have their own
    neutral-looking photos (``_posed_bases``). Asking for more subjects than there are photos
    reuses them as mirrored, re-toned variants (named ``...v1``, ``...v2``): the same person
    then appears as two subjects, which a person-independent split cannot tell apart.
    """
    if count < 1:
        raise ValueError(f"need at least one identity, got {count}")
    if kind in MER_KINDS:
        photos = {"casme2": [ASTRONAUT], "samm": [GRACE_HOPPER]}.get(kind, [])
        base = photos + [lfw_identity(index) for index in _mer_lfw()[kind]]
    elif kind in ("ckplus", "jaffe"):
        base = _posed_bases(kind)
    else:
        raise ValueError(
            f"unknown demo corpus kind {kind!r}, expected one of {[*MER_KINDS, 'ckplus', 'jaffe']}"
        )
    identities = []
    for position in range(count):
        variant, slot = divmod(position, len(base))
        identity = base[slot]
        if variant:
            identity = replace(
                identity,
                name=f"{identity.name}v{variant}",
                mirror=not identity.mirror if variant % 2 else identity.mirror,
                tone=SKIN_TONES[(slot + variant) % len(SKIN_TONES)],
                zoom=identity.zoom * (1.0 + 0.04 * variant),
            )
        identities.append(identity)
    return identities


@lru_cache(maxsize=1)
def fer2013_pools() -> dict[str, tuple[Identity, ...]]:
    """The people of demo FER2013: {"Training": ..., "test": ...}, disjoint.

    Every neutral-looking photo is used; FER2013 has no subject ids, so the two test splits
    (PublicTest, PrivateTest) share one pool of people that Training never sees.
    """
    people = [
        lfw_identity(index, face_fraction=FER2013_FACE_FRACTION) for index in neutral_lfw_indices()
    ]
    people.append(replace(GRACE_HOPPER, face_fraction=FER2013_FACE_FRACTION))
    test = tuple(people[FER2013_TEST_EVERY - 1 :: FER2013_TEST_EVERY])
    training = tuple(person for person in people if person not in test)
    return {"Training": training, "test": test}


def fer_identity(rng: np.random.Generator, pool: Sequence[Identity]) -> Identity:
    """A random person of ``pool`` for one FER2013 image, with a random mirror, zoom and shift."""
    base = pool[int(rng.integers(len(pool)))]
    zoom = float(rng.uniform(0.92, 1.08))
    shift = (float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.04, 0.04)))
    return replace(base, mirror=bool(rng.integers(2)), zoom=zoom, shift=shift)

"""Face alignment with facenet-pytorch's MTCNN, and the policies of the preparation.

Per clip, MTCNN runs once on a reference frame (the onset, falling back to its neighbours when
no face is found there). The five detected landmarks give a similarity transform that puts the
eyes on one horizontal line at fixed positions of the output crop; the same transform is applied
to every frame of the clip in one batched ``grid_sample`` call, so the face does not jitter from
frame to frame. ``detect="per_frame"`` runs the detector on every frame instead (slower; kept for
comparison and for corpora with large head motion).

The preparation's policies, each counted in the quality report and the sample table
(``preprocessing.corpus``); none stops the run except ``unreadable_frame="error"``:

- **No face** (``missing_face``). Per clip: if none of the frames within
  ``max_reference_shift`` of the onset has a face with score >= ``min_score``, the clip is
  dropped (reason ``no_face_near_onset``). Per frame: a frame without a face takes the
  transform of the nearest frame that has one (``missing_face="repair"``) or is removed from the
  clip (``missing_face="drop"``); a clip with no face at all is dropped (``no_face_in_clip``).
- **Several faces** (``multiple_faces``) on the reference frame or a still: only faces with
  score >= ``min_score`` count; the one aligned is the largest box (``"largest"``, the default)
  or the box whose centre is nearest the image centre (``"central"``). The number found is the
  sample's ``faces_detected``; the report counts ``samples_multiple_faces``.
- **Unreadable frames** (``unreadable_frame``, applied as samples are read): a frame whose file
  is missing (removed after indexing) or cannot be decoded is unreadable, and so is a frame
  whose size differs from the clip's most common frame size. Inside a clip, an unreadable frame
  is replaced by its nearest readable frame (``"repair"``, the default; the earlier one on a tie)
  or the whole clip is dropped (``"drop_clip"``, reason ``unreadable_clip``); a clip with no
  readable frame is dropped alike, and an unreadable still (a one-frame sample: JAFFE, CK+) is
  dropped (``unreadable_image``). ``"error"`` stops the preparation with a CorpusError naming
  the file. Each unreadable file is listed in the report (``unreadable_files``: sample_id,
  file, reason) and counted (``frames_unreadable``, also a column of the sample table).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from facenet_pytorch import MTCNN

logger = logging.getLogger(__name__)

#: Canonical landmark positions (left eye, right eye, nose tip, left and right mouth corners)
#: in a unit square crop; x to the right, y down. Left-right symmetric with the eyes on one
#: horizontal line; the margin around the face is set by ``AlignmentConfig.face_scale``.
CANONICAL_LANDMARKS = np.array(
    [
        [0.34, 0.46],
        [0.66, 0.46],
        [0.50, 0.64],
        [0.37, 0.82],
        [0.63, 0.82],
    ]
)


#: Settings with a fixed set of values, and those values.
CHOICES = {
    "detect": ("per_clip", "per_frame"),
    "missing_face": ("repair", "drop"),
    "unreadable_frame": ("repair", "drop_clip", "error"),
    "multiple_faces": ("largest", "central"),
}


@dataclass(frozen=True)
class AlignmentConfig:
    """Settings of the aligner (the policies are stated in this module's docstring).

    size: output side in pixels (80 for MER, 48 for FER).
    face_scale: how much of the crop the canonical landmarks span (1.0 as in the template;
        smaller values leave more margin around the face).
    """

    size: int = 80
    grayscale: bool = True
    detect: str = "per_clip"  # or "per_frame"
    max_reference_shift: int = 5
    missing_face: str = "repair"  # or "drop" (per-frame detection only)
    min_score: float = 0.9
    face_scale: float = 0.85
    min_face_size: int = 20
    unreadable_frame: str = "repair"  # or "drop_clip" or "error"
    multiple_faces: str = "largest"  # or "central"

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                expected = ", ".join(repr(choice) for choice in allowed)
                raise ValueError(f"alignment.{name} must be one of {expected}; got {value!r}")


class Face(NamedTuple):
    """The face chosen in one frame (see ``select_face``)."""

    score: float
    landmarks: np.ndarray  # [5, 2]: eyes, nose tip, mouth corners; x, y in pixels
    faces: int  # faces with score >= min_score in the frame, this one included


@dataclass
class AlignedClip:
    """An aligned clip and what the aligner saw."""

    frames: np.ndarray | None  # uint8 [T, size, size] or [T, size, size, 3]; None if dropped
    face_found: bool
    detector_score: float
    reference_shift: int  # frames between the onset and the frame used as reference
    eye_angle_deg: float  # roll of the face before alignment
    frames_repaired: int = 0
    frames_dropped: int = 0
    drop_reason: str = ""
    kept_frame_indices: list[int] = field(default_factory=list)
    faces_detected: int = 0  # on the reference frame (per-frame detection: the most on a frame)
    unreadable_files: list[dict[str, str]] = field(default_factory=list)  # {file, reason}

    @property
    def frames_unreadable(self) -> int:
        return len(self.unreadable_files)

    @classmethod
    def dropped(cls, reason: str, **seen: Any) -> AlignedClip:
        """A clip left out of the prepared data, and why (``drop_reason``)."""
        return cls(
            frames=None,
            face_found=False,
            detector_score=float("nan"),
            reference_shift=-1,
            eye_angle_deg=float("nan"),
            drop_reason=reason,
            **seen,
        )


@cache
def _detector(min_face_size: int):
    return MTCNN(device="cpu", min_face_size=min_face_size, select_largest=True, post_process=False)


def detect_faces(frames: np.ndarray, config: AlignmentConfig) -> list[Face | None]:
    """Run MTCNN on RGB frames [N, H, W, 3]; per frame the face chosen among those with score
    >= ``min_score`` by ``config.multiple_faces``, or None when there is none."""
    detector = _detector(config.min_face_size)
    boxes, probs, points = detector.detect(list(frames), landmarks=True)
    results: list[Face | None] = []
    for frame, box, prob, point in zip(frames, boxes, probs, points, strict=True):
        if box is None:
            results.append(None)
            continue
        scores = np.asarray(prob, dtype=float).ravel()
        confident = np.flatnonzero(scores >= config.min_score)
        if not confident.size:
            results.append(None)
            continue
        candidates = np.asarray(box, dtype=float).reshape(-1, 4)[confident]
        chosen = confident[select_face(candidates, frame.shape[:2], config.multiple_faces)]
        landmarks = np.asarray(point, dtype=float).reshape(-1, 5, 2)[chosen]
        results.append(Face(float(scores[chosen]), landmarks, int(confident.size)))
    return results


def select_face(boxes: np.ndarray, image_shape: tuple[int, int], policy: str) -> int:
    """Index of the face to align among ``boxes`` [K, 4] (x1, y1, x2, y2): the largest box
    (``"largest"``) or the box whose centre is nearest the image centre (``"central"``);
    ties go to the first box."""
    if policy == "largest":
        return int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    height, width = image_shape
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return int(np.argmin(np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)))


def similarity_to_template(landmarks: np.ndarray, size: int, face_scale: float) -> np.ndarray:
    """Similarity transform (3x3, source pixels -> crop pixels) with the eyes exactly level.

    The rotation comes from the eye line alone (so the eyes end up level whatever the other
    points say); scale and translation are the least-squares fit of all five points to the
    canonical template after that rotation.
    """
    template = (CANONICAL_LANDMARKS - 0.5) * face_scale * size + size / 2.0
    left_eye, right_eye = landmarks[0], landmarks[1]
    angle = np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])
    cos, sin = np.cos(-angle), np.sin(-angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    rotated = landmarks @ rotation.T
    src_centered = rotated - rotated.mean(axis=0)
    dst_centered = template - template.mean(axis=0)
    scale = float((src_centered * dst_centered).sum() / (src_centered**2).sum())
    translation = template.mean(axis=0) - scale * rotated.mean(axis=0)
    transform = np.eye(3)
    transform[:2, :2] = scale * rotation
    transform[:2, 2] = translation
    return transform


def eye_angle_degrees(landmarks: np.ndarray) -> float:
    left_eye, right_eye = landmarks[0], landmarks[1]
    return float(np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])))


def warp_frames(frames: np.ndarray, transforms: np.ndarray, size: int) -> np.ndarray:
    """Warp RGB frames [T, H, W, 3] uint8 into [T, size, size, 3] uint8 crops in one batch.

    ``transforms`` is one 3x3 matrix (source -> crop pixels) for all frames or [T, 3, 3].
    """
    n_frames, height, width = frames.shape[:3]
    transforms = np.broadcast_to(transforms, (n_frames, 3, 3))
    inverse = np.linalg.inv(transforms)  # crop pixels -> source pixels
    # grid_sample works in normalised coordinates in [-1, 1] (align_corners=False): pixel
    # centre x maps to (2x + 1) / W - 1. Compose: normalised crop -> crop px -> source px ->
    # normalised source.
    to_pixels = np.array(
        [[size / 2.0, 0, size / 2.0 - 0.5], [0, size / 2.0, size / 2.0 - 0.5], [0, 0, 1]]
    )
    to_normalised = np.array(
        [[2.0 / width, 0, 1.0 / width - 1], [0, 2.0 / height, 1.0 / height - 1], [0, 0, 1]]
    )
    theta = to_normalised @ inverse @ to_pixels
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    grid = F.affine_grid(
        torch.from_numpy(theta[:, :2, :]).float(), [n_frames, 3, size, size], align_corners=False
    )
    warped = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return warped.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def to_grayscale(frames: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of RGB uint8 frames [..., 3] -> uint8 [...]."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(frames.astype(np.float32) @ weights), 0, 255).astype(np.uint8)


def _reference_order(n_frames: int, max_shift: int) -> list[int]:
    """Onset first, then its neighbours, nearest first: 0, 1, 2, ... (clips start at the onset)."""
    return list(range(min(n_frames, max_shift + 1)))


def align_clip(frames: np.ndarray, config: AlignmentConfig) -> AlignedClip:
    """Align the RGB frames [T, H, W, 3] of one clip (frame 0 is the onset)."""
    if config.detect == "per_frame":
        return _align_per_frame(frames, config)
    for shift in _reference_order(len(frames), config.max_reference_shift):
        face = detect_faces(frames[shift : shift + 1], config)[0]
        if face is None:
            continue
        transform = similarity_to_template(face.landmarks, config.size, config.face_scale)
        return AlignedClip(
            frames=_finish(warp_frames(frames, transform, config.size), config),
            face_found=True,
            detector_score=face.score,
            reference_shift=shift,
            eye_angle_deg=eye_angle_degrees(face.landmarks),
            kept_frame_indices=list(range(len(frames))),
            faces_detected=face.faces,
        )
    return AlignedClip.dropped("no_face_near_onset")


def _align_per_frame(frames: np.ndarray, config: AlignmentConfig) -> AlignedClip:
    faces = detect_faces(frames, config)
    found = [i for i, face in enumerate(faces) if face is not None]
    if not found:
        return AlignedClip.dropped("no_face_in_clip")
    found_array = np.array(found)
    kept = found if config.missing_face == "drop" else list(range(len(frames)))
    transforms = []
    for index in kept:
        nearest = int(found_array[np.abs(found_array - index).argmin()])
        landmarks = faces[nearest].landmarks
        transforms.append(similarity_to_template(landmarks, config.size, config.face_scale))
    first = faces[found[0]]
    return AlignedClip(
        frames=_finish(warp_frames(frames[kept], np.stack(transforms), config.size), config),
        face_found=True,
        detector_score=float(np.mean([faces[i].score for i in found])),
        reference_shift=found[0],
        eye_angle_deg=eye_angle_degrees(first.landmarks),
        frames_repaired=len(frames) - len(found) if config.missing_face == "repair" else 0,
        frames_dropped=len(frames) - len(found) if config.missing_face == "drop" else 0,
        kept_frame_indices=kept,
        faces_detected=max(faces[i].faces for i in found),
    )


def _finish(frames: np.ndarray, config: AlignmentConfig) -> np.ndarray:
    return to_grayscale(frames) if config.grayscale else frames

"""Face alignment with facenet-pytorch's MTCNN.

Per clip, MTCNN runs once on a reference frame (the onset, falling back to its neighbours when
no face is found there). The five detected landmarks give a similarity transform that puts the
eyes on one horizontal line at fixed positions of the output crop; the same transform is applied
to every frame of the clip in one batched ``grid_sample`` call, so the face does not jitter from
frame to frame. ``detect="per_frame"`` runs the detector on every frame instead (slower; kept for
comparison and for corpora with large head motion).

Policy for frames and clips without a face (counted in the quality report, never silent):

- per clip: if none of the frames within ``max_reference_shift`` of the onset has a face with
  score >= ``min_score``, the clip is dropped (reason ``no_face_near_onset``).
- per frame: a frame without a face takes the transform of the nearest frame that has one
  (``missing_face="repair"``) or is removed from the clip (``missing_face="drop"``); a clip with
  no face at all is dropped (reason ``no_face_in_clip``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache

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


@dataclass(frozen=True)
class AlignmentConfig:
    """Settings of the aligner.

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

    def __post_init__(self) -> None:
        if self.detect not in {"per_clip", "per_frame"}:
            raise ValueError(
                f"alignment.detect must be 'per_clip' or 'per_frame', got {self.detect!r}"
            )
        if self.missing_face not in {"repair", "drop"}:
            raise ValueError(
                f"alignment.missing_face must be 'repair' or 'drop', got {self.missing_face!r}"
            )


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


@cache
def _detector(min_face_size: int):
    return MTCNN(device="cpu", min_face_size=min_face_size, select_largest=True, post_process=False)


def detect_faces(
    frames: np.ndarray, config: AlignmentConfig
) -> list[tuple[float, np.ndarray] | None]:
    """Run MTCNN on RGB frames [N, H, W, 3]; per frame (score, landmarks [5, 2]) or None."""
    detector = _detector(config.min_face_size)
    _, probs, points = detector.detect(list(frames), landmarks=True)
    results: list[tuple[float, np.ndarray] | None] = []
    for prob, point in zip(probs, points, strict=True):
        if point is None or prob is None:
            results.append(None)
            continue
        score = float(np.asarray(prob, dtype=object).astype(float).ravel()[0])
        if score < config.min_score:
            results.append(None)
            continue
        results.append((score, np.asarray(point, dtype=object).astype(float).reshape(-1, 5, 2)[0]))
    return results


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
        detection = detect_faces(frames[shift : shift + 1], config)[0]
        if detection is None:
            continue
        score, landmarks = detection
        transform = similarity_to_template(landmarks, config.size, config.face_scale)
        return AlignedClip(
            frames=_finish(warp_frames(frames, transform, config.size), config),
            face_found=True,
            detector_score=score,
            reference_shift=shift,
            eye_angle_deg=eye_angle_degrees(landmarks),
            kept_frame_indices=list(range(len(frames))),
        )
    return AlignedClip(
        frames=None,
        face_found=False,
        detector_score=float("nan"),
        reference_shift=-1,
        eye_angle_deg=float("nan"),
        drop_reason="no_face_near_onset",
    )


def _align_per_frame(frames: np.ndarray, config: AlignmentConfig) -> AlignedClip:
    detections = detect_faces(frames, config)
    found = [i for i, detection in enumerate(detections) if detection is not None]
    if not found:
        return AlignedClip(
            frames=None,
            face_found=False,
            detector_score=float("nan"),
            reference_shift=-1,
            eye_angle_deg=float("nan"),
            drop_reason="no_face_in_clip",
        )
    found_array = np.array(found)
    kept = found if config.missing_face == "drop" else list(range(len(frames)))
    transforms = []
    for index in kept:
        nearest = int(found_array[np.abs(found_array - index).argmin()])
        _, landmarks = detections[nearest]
        transforms.append(similarity_to_template(landmarks, config.size, config.face_scale))
    _, first_landmarks = detections[found[0]]
    return AlignedClip(
        frames=_finish(warp_frames(frames[kept], np.stack(transforms), config.size), config),
        face_found=True,
        detector_score=float(np.mean([detections[i][0] for i in found])),
        reference_shift=found[0],
        eye_angle_deg=eye_angle_degrees(first_landmarks),
        frames_repaired=len(frames) - len(found) if config.missing_face == "repair" else 0,
        frames_dropped=len(frames) - len(found) if config.missing_face == "drop" else 0,
        kept_frame_indices=kept,
    )


def _finish(frames: np.ndarray, config: AlignmentConfig) -> np.ndarray:
    return to_grayscale(frames) if config.grayscale else frames

import numpy as np
import pytest
from skimage import data
from skimage.transform import rotate

from expression_nas.preprocessing.alignment import (
    CANONICAL_LANDMARKS,
    AlignmentConfig,
    align_clip,
    detect_faces,
    eye_angle_degrees,
    select_face,
    similarity_to_template,
    warp_frames,
)


@pytest.fixture(scope="module")
def tilted_face() -> np.ndarray:
    """The astronaut photo (a real face shipped by scikit-image), rolled by 12 degrees."""
    image = rotate(data.astronaut(), 12, resize=False, preserve_range=True, mode="edge")
    return image.astype(np.uint8)


def test_similarity_levels_the_eyes_exactly():
    template = (CANONICAL_LANDMARKS - 0.5) * 0.8 * 100 + 50
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = template @ rotation.T * 2.5 + np.array([40.0, -7.0])
    transform = similarity_to_template(landmarks, size=100, face_scale=0.8)
    mapped = landmarks @ transform[:2, :2].T + transform[:2, 2]
    np.testing.assert_allclose(mapped, template, atol=1e-9)
    assert abs(eye_angle_degrees(mapped)) < 1e-9


def test_batched_warp_equals_frame_by_frame():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(4, 60, 70, 3), dtype=np.uint8)
    transforms = np.stack([np.eye(3)] * 4)
    transforms[:, 0, 2] = [-5, -3, 0, 2]
    transforms[:, :2, :2] *= 1.3
    batched = warp_frames(frames, transforms, size=32)
    single = np.concatenate([warp_frames(frames[i : i + 1], transforms[i], 32) for i in range(4)])
    np.testing.assert_array_equal(batched, single)
    identity = warp_frames(frames[:, :32, :32], np.eye(3), size=32)
    np.testing.assert_array_equal(identity, frames[:, :32, :32])


def test_aligned_real_face_has_level_eyes_and_is_centred(tilted_face):
    config = AlignmentConfig(size=160, grayscale=False)
    assert abs(eye_angle_degrees(detect_faces(tilted_face[None], config)[0].landmarks)) > 5
    aligned = align_clip(np.stack([tilted_face] * 3), config)
    assert aligned.face_found and aligned.frames.shape == (3, 160, 160, 3)
    assert abs(aligned.eye_angle_deg) > 5  # the roll it removed
    redetected = detect_faces(aligned.frames[:1], config)[0]
    assert redetected is not None and redetected.faces == 1
    landmarks = redetected.landmarks
    assert abs(eye_angle_degrees(landmarks)) < 2.0
    face_centre = landmarks[[0, 1, 3, 4]].mean(axis=0)
    assert abs(face_centre[0] - 80) < 8 and abs(face_centre[1] - 100) < 16


def test_reference_falls_back_to_a_neighbour_and_policy_drops_faceless_clips(tilted_face):
    blank = np.full_like(tilted_face, 128)
    config = AlignmentConfig(size=48, max_reference_shift=2)
    aligned = align_clip(np.stack([blank, tilted_face, tilted_face]), config)
    assert aligned.face_found and aligned.reference_shift == 1
    assert aligned.frames.shape == (3, 48, 48)

    dropped = align_clip(np.stack([blank, blank, blank, tilted_face]), config)
    assert dropped.frames is None and dropped.drop_reason == "no_face_near_onset"


def test_per_frame_detection_repairs_or_drops_frames_without_face(tilted_face):
    blank = np.full_like(tilted_face, 128)
    clip = np.stack([tilted_face, blank, tilted_face])
    repaired = align_clip(clip, AlignmentConfig(size=48, detect="per_frame"))
    assert repaired.frames.shape[0] == 3 and repaired.frames_repaired == 1
    assert repaired.frames[1].std() < 1.0  # the blank frame, warped with its neighbour's transform
    dropped = align_clip(clip, AlignmentConfig(size=48, detect="per_frame", missing_face="drop"))
    assert dropped.frames.shape[0] == 2 and dropped.frames_dropped == 1
    assert dropped.kept_frame_indices == [0, 2]


def test_select_face_takes_the_largest_or_the_most_central_box():
    boxes = np.array(
        [
            [10.0, 10.0, 60.0, 70.0],  # large, near the top left corner
            [90.0, 80.0, 110.0, 105.0],  # small, its centre (100, 92.5) near the image's
            [150.0, 20.0, 190.0, 80.0],  # medium
        ]
    )
    assert select_face(boxes, (180, 200), "largest") == 0
    assert select_face(boxes, (180, 200), "central") == 1
    assert select_face(boxes[[1, 1]], (180, 200), "largest") == 0  # ties: the first


@pytest.mark.parametrize(
    "key, value",
    [
        ("detect", "sometimes"),
        ("missing_face", "ignore"),
        ("unreadable_frame", "skip"),
        ("multiple_faces", "first"),
    ],
)
def test_bad_settings_are_rejected_with_the_key_named(key, value):
    with pytest.raises(ValueError, match=rf"alignment\.{key} must be one of .*got '{value}'"):
        AlignmentConfig(**{key: value})

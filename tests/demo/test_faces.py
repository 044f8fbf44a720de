"""Base photos, identities and rendered faces of the demo corpora."""

from __future__ import annotations

import numpy as np
import pytest
from facenet_pytorch import MTCNN
from PIL import Image

from expression_nas.demo import faces
from expression_nas.demo.faces import (
    ASTRONAUT,
    GRACE_HOPPER,
    Identity,
    base_photo,
    corpus_identities,
    lfw_identity,
    neutral_frame,
    render_face,
)
from expression_nas.demo.generate import DEFAULTS
from expression_nas.demo.motion import plan_motion, render_still

MER_KINDS = ("casme2", "samm", "smic")


def test_base_photos_ship_with_the_packages():
    astronaut, points = base_photo("astronaut")
    assert astronaut.shape == (512, 512, 3)
    assert points.shape == (5, 2)
    grace, _ = base_photo("grace_hopper")
    assert grace.shape == (600, 512, 3)
    lfw, lfw_points = base_photo("lfw", 0)
    assert lfw.shape == (25, 25, 1)
    assert np.all((lfw_points > 0) & (lfw_points < 25))
    with pytest.raises(ValueError, match="no stored landmarks"):
        base_photo("lfw", 30)  # MTCNN finds no face in it


def test_each_mer_corpus_has_six_distinct_people_of_its_own():
    photos_by_kind = {}
    for kind in (*MER_KINDS, "ckplus", "jaffe"):
        identities = corpus_identities(kind, DEFAULTS[kind]["n_subjects"])
        names = [identity.name for identity in identities]
        assert len(set(names)) == len(names) >= 6
        photos_by_kind[kind] = {(i.source, i.index) for i in identities}
        assert len(photos_by_kind[kind]) == len(identities)  # one photo per subject
    kinds = list(photos_by_kind)
    for position, kind in enumerate(kinds):
        for other in kinds[position + 1 :]:
            assert not photos_by_kind[kind] & photos_by_kind[other], (kind, other)
    assert corpus_identities("casme2", 1) == [ASTRONAUT]
    assert corpus_identities("samm", 1) == [GRACE_HOPPER]


def test_more_subjects_than_photos_reuse_them_as_variants():
    identities = corpus_identities("smic", 20)
    assert len({identity.name for identity in identities}) == 20
    assert any(identity.name.endswith("v1") for identity in identities)
    with pytest.raises(ValueError, match="unknown demo corpus kind"):
        corpus_identities("nope", 3)


@pytest.mark.parametrize("color", [True, False])
def test_render_face_shape_landmarks_and_cache(color):
    face = render_face(ASTRONAUT, 96, color=color)
    assert face.image.shape == (96, 96, 3 if color else 1)
    assert face.image.dtype == np.float32
    assert not face.image.flags.writeable
    assert np.all((face.landmarks > 0) & (face.landmarks < 96))
    assert 0.3 * 96 < face.interocular < 0.45 * 96
    assert render_face(ASTRONAUT, 96, color=color) is face
    frame = neutral_frame(face)
    assert frame.dtype == np.uint8
    assert frame.shape == (96, 96, 3 if color else 1)


def test_lfw_faces_become_skin_toned_colour_frames():
    face = render_face(lfw_identity(3), 64, color=True)
    assert face.image.shape[2] == 1 and face.channels == 3
    frame = neutral_frame(face)
    assert frame.shape == (64, 64, 3)
    red, green, blue = (frame[..., channel].astype(float).mean() for channel in range(3))
    assert red > green > blue  # warm skin tone, not gray


def test_mirror_flips_the_image_and_swaps_left_and_right():
    plain = render_face(lfw_identity(3), 64, color=False)
    mirrored = render_face(Identity("m", "lfw", index=3, mirror=True), 64, color=False)
    left_eye, right_eye = mirrored.landmarks[0], mirrored.landmarks[1]
    assert left_eye[0] < right_eye[0]
    np.testing.assert_allclose(mirrored.landmarks[0, 0], 63 - plain.landmarks[1, 0], atol=1e-6)
    # same photo content up to the per-identity skin texture
    assert np.abs(mirrored.image[:, ::-1] - plain.image).mean() < 4


def test_rendering_is_reproducible_across_cache_clears():
    first = render_face(GRACE_HOPPER, 80, color=True).image.copy()
    render_face.cache_clear()
    second = render_face(GRACE_HOPPER, 80, color=True).image
    assert np.array_equal(first, second)


def _used_identities() -> list[tuple[Identity, int, bool, float]]:
    """(identity, frame size, colour, amplitude) for every subject of the default corpora,
    plus every face the FER2013 writer can draw (at 48x48)."""
    colour = {"casme2": True, "samm": False, "smic": True, "ckplus": False, "jaffe": False}
    used = []
    for kind, is_colour in colour.items():
        config = DEFAULTS[kind]
        for identity in corpus_identities(kind, config["n_subjects"]):
            used.append((identity, config["size"], is_colour, config["amplitude"]))
    fer = DEFAULTS["fer2013"]["amplitude"]
    pool = faces._assign_lfw()["fer2013"]
    used += [(lfw_identity(index), 48, False, fer) for index in pool]
    used += [(ASTRONAUT, 48, False, fer), (GRACE_HOPPER, 48, False, fer)]
    return used


def test_mtcnn_finds_every_face_on_generated_frames():
    detector = MTCNN(device="cpu")
    failures = []
    used = _used_identities()
    for position, (identity, size, colour, amplitude) in enumerate(used):
        face = render_face(identity, size, color=colour)
        rng = np.random.default_rng(position)
        expression = ("happiness", "surprise", "disgust", "sadness")[position % 4]
        frame = render_still(face, plan_motion(rng, expression, amplitude=amplitude), rng)
        rgb = frame if frame.shape[2] == 3 else np.repeat(frame, 3, axis=2)
        boxes, probs, points = detector.detect(Image.fromarray(rgb), landmarks=True)
        if boxes is None:
            failures.append((identity.name, size, "no face"))
            continue
        best = int(np.argmax(probs.astype(float)))
        prob = float(probs.astype(float)[best])
        error = np.abs(points[best].astype(float) - face.landmarks).max() / face.interocular
        if prob <= 0.9 or error > 0.5:  # the same face; MTCNN's points are coarse at 48 px
            failures.append((identity.name, size, round(prob, 3), round(float(error), 2)))
    assert len(used) >= 70
    assert not failures

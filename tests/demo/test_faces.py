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
from expression_nas.demo.generate import DEFAULTS, _posed_plan
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


def test_each_corpus_has_distinct_people_and_mer_corpora_share_none():
    """MER and FER corpora never meet in one evaluation, so only corpora of one task must be
    apart (the FER corpora are checked in the test below)."""
    photos_by_kind = {}
    for kind in MER_KINDS:
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


def _detection_problem(detector: MTCNN, face, frame: np.ndarray) -> str | None:
    """Why MTCNN would not align ``frame`` on ``face`` (None: found, score > 0.9, landmarks
    within half an eye distance; its points are coarse on small faces)."""
    rgb = frame if frame.shape[2] == 3 else np.repeat(frame, 3, axis=2)
    boxes, probs, points = detector.detect(Image.fromarray(rgb), landmarks=True)
    if boxes is None:
        return "no face"
    best = int(np.argmax(probs.astype(float)))
    prob = float(probs.astype(float)[best])
    error = np.abs(points[best].astype(float) - face.landmarks).max() / face.interocular
    if prob <= 0.9 or error > 0.5:
        return f"score {prob:.3f}, landmark error {error:.2f}"
    return None


def test_mtcnn_finds_every_face_of_the_mer_corpora():
    detector = MTCNN(device="cpu")
    failures = []
    colour = {"casme2": True, "samm": False, "smic": True}
    for kind, is_colour in colour.items():
        config = DEFAULTS[kind]
        for position, identity in enumerate(corpus_identities(kind, config["n_subjects"])):
            face = render_face(identity, config["size"], color=is_colour)
            rng = np.random.default_rng(position)
            expression = ("happiness", "surprise", "disgust", "sadness")[position % 4]
            plan = plan_motion(rng, expression, amplitude=config["amplitude"])
            problem = _detection_problem(detector, face, render_still(face, plan, rng))
            if problem:
                failures.append((kind, identity.name, problem))
    assert not failures


def test_mtcnn_finds_the_posed_faces_of_ckplus_and_jaffe():
    """Strong posed expressions make MTCNN miss a face now and then (the preparation drops
    and counts such images): every person is found in at least half of the expressions, and
    nine images in ten are found."""
    detector = MTCNN(device="cpu")
    missed: dict[str, list[str]] = {}
    checked = 0
    for kind in ("ckplus", "jaffe"):
        config = DEFAULTS[kind]
        for position, identity in enumerate(corpus_identities(kind, config["n_subjects"])):
            face = render_face(identity, config["size"], color=False)
            for expression in ("happiness", "surprise", "fear", "sadness"):
                rng = np.random.default_rng([position, len(expression)])
                plan = _posed_plan(rng, expression, config)
                checked += 1
                if _detection_problem(detector, face, render_still(face, plan, rng)):
                    missed.setdefault(identity.name, []).append(expression)
    assert checked == 4 * (32 + 10)
    assert all(len(expressions) <= 2 for expressions in missed.values()), missed
    assert sum(map(len, missed.values())) <= 0.1 * checked, missed


def test_fer_corpora_leave_out_expressive_photos_and_keep_people_apart():
    jaffe = {identity.index for identity in corpus_identities("jaffe", 10)}
    ckplus = {
        identity.index for identity in corpus_identities("ckplus", 32) if identity.source == "lfw"
    }
    assert len(jaffe) == 10 and len(ckplus) >= 31  # one photo per subject
    assert not jaffe & ckplus
    assert not (jaffe | ckplus) & faces.LFW_EXPRESSIVE
    pools = faces.fer2013_pools()
    training = {(person.source, person.index) for person in pools["Training"]}
    test = {(person.source, person.index) for person in pools["test"]}
    assert len(test) >= 10 and len(training) >= 3 * len(test)
    assert not training & test
    assert ("astronaut", 0) not in training | test  # she smiles broadly
    assert (
        not {index for source, index in training | test if source == "lfw"} & faces.LFW_EXPRESSIVE
    )


def test_a_face_drawn_on_a_background_keeps_no_edge_of_its_photo():
    identity = corpus_identities("jaffe", 1)[0]
    source, landmarks = base_photo("lfw", identity.index)
    weight = faces.photo_weight(identity, source.shape, landmarks, 128)
    assert weight.shape == (128, 128)
    _, scale, out_centre = faces._framing(identity, source.shape, landmarks, 128)
    half = 12.5 / scale  # half the 25-pixel photo, in output pixels
    ys, xs = np.mgrid[0:128, 0:128]
    outside = (np.abs(xs - out_centre[0]) > half) | (np.abs(ys - out_centre[1]) > half)
    assert outside.mean() > 0.4 and np.all(weight[outside] == 0)
    face = render_face(identity, 128, color=False)
    for x, y in face.landmarks:  # eyes, nose and mouth come from the photo itself
        assert weight[round(y), round(x)] == 1

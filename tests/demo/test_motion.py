"""Synthetic facial motions: AU displacement fields, envelopes, warping and clips."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from expression_nas.demo.faces import ASTRONAUT, lfw_identity, render_face
from expression_nas.demo.motion import (
    EXPRESSIONS,
    MACRO_AMPLITUDE,
    MICRO_AMPLITUDE,
    action_unit_code,
    displacement_field,
    envelope,
    facial_points,
    plan_motion,
    render_clip,
    render_still,
    warp_frame,
)

SIZE = 144


@pytest.fixture(scope="module")
def face():
    return render_face(ASTRONAUT, SIZE, color=True)


def _at(field: np.ndarray, point: np.ndarray) -> tuple[float, float]:
    """(dx, dy) of ``field`` at the pixel nearest to ``point`` (x, y)."""
    x, y = np.rint(point).astype(int)
    return float(field[1, y, x]), float(field[0, y, x])


def test_envelope_rises_to_apex_and_falls_back():
    levels = envelope(21, onset=2, apex=8, offset=18, residual=0.1)
    assert levels[:3].tolist() == [0.0, 0.0, 0.0]
    assert levels[8] == pytest.approx(1.0)
    assert levels[18] == pytest.approx(0.1)
    assert levels[20] == pytest.approx(0.1)
    assert np.all(np.diff(levels[2:9]) > 0)
    assert np.all(np.diff(levels[8:19]) < 0)
    assert envelope(5, 0, 0, 4)[0] == 1.0
    with pytest.raises(ValueError, match="onset <= apex <= offset"):
        envelope(10, onset=5, apex=3, offset=8)


def test_neutral_has_no_motion(face):
    field = displacement_field(face.landmarks, EXPRESSIONS["neutral"], (SIZE, SIZE), 0.1)
    assert not field.any()


def test_happiness_pulls_lip_corners_up_and_out(face):
    field = displacement_field(face.landmarks, EXPRESSIONS["happiness"], (SIZE, SIZE), 0.1)
    left_dx, left_dy = _at(field, face.landmarks[3])
    right_dx, right_dy = _at(field, face.landmarks[4])
    assert left_dy < -1 and right_dy < -1  # up
    assert left_dx < 0 < right_dx  # outward
    points, _, _ = facial_points(face.landmarks)
    assert abs(_at(field, points["brow_l"])[1]) < 0.1  # brows stay


def test_surprise_raises_brows_and_drops_jaw(face):
    field = displacement_field(face.landmarks, EXPRESSIONS["surprise"], (SIZE, SIZE), 0.1)
    points, _, _ = facial_points(face.landmarks)
    assert _at(field, points["brow_inner_l"])[1] < -2
    assert _at(field, points["brow_outer_r"])[1] < -2
    assert _at(field, points["chin"])[1] > 1


def test_brow_lowerer_moves_brows_down_and_together(face):
    field = displacement_field(face.landmarks, {"4": 1.0}, (SIZE, SIZE), 0.1)
    points, _, _ = facial_points(face.landmarks)
    left_dx, left_dy = _at(field, points["brow_l"])
    right_dx, right_dy = _at(field, points["brow_r"])
    assert left_dy > 1 and right_dy > 1
    assert left_dx > 0 > right_dx  # toward the midline


def test_one_sided_action_unit_moves_one_side_only(face):
    field = displacement_field(face.landmarks, EXPRESSIONS["contempt"], (SIZE, SIZE), 0.1)
    image_left = np.hypot(*_at(field, face.landmarks[3]))
    image_right = np.hypot(*_at(field, face.landmarks[4]))
    assert image_left > 1 and image_right < 0.2 * image_left  # R12: subject's right


def test_micro_amplitude_is_a_few_pixels_and_scales_linearly(face):
    for expression in ("happiness", "surprise", "disgust", "repression", "anger", "sadness"):
        micro = displacement_field(
            face.landmarks, EXPRESSIONS[expression], (SIZE, SIZE), MICRO_AMPLITUDE
        )
        peak = float(np.hypot(micro[0], micro[1]).max())
        assert 1.0 < peak < 5.0, expression
        double = displacement_field(
            face.landmarks, EXPRESSIONS[expression], (SIZE, SIZE), 2 * MICRO_AMPLITUDE
        )
        np.testing.assert_allclose(double, 2 * micro, rtol=1e-5, atol=1e-5)


def test_action_unit_codes():
    assert action_unit_code(EXPRESSIONS["happiness"]) == "6+12"
    assert action_unit_code(EXPRESSIONS["contempt"]) == "R12+R14"
    assert action_unit_code({"26": 1, "1": 1, "2": 1}) == "1+2+26"
    with pytest.raises(ValueError, match="unknown action unit"):
        action_unit_code({"99": 1.0})


def test_warp_moves_content_by_the_field():
    image = np.zeros((32, 32, 1), dtype=np.float32)
    image[10, 12, 0] = 100.0
    field = np.zeros((2, 32, 32), dtype=np.float32)
    field[0] += 3.0  # down
    field[1] -= 2.0  # left
    moved = warp_frame(image, field)
    assert np.unravel_index(np.argmax(moved[..., 0]), (32, 32)) == (13, 10)
    assert np.array_equal(warp_frame(image, np.zeros_like(field)), image)


def test_plan_motion_draws_variation_within_bounds():
    rng = np.random.default_rng(0)
    amplitudes = [
        plan_motion(rng, "happiness", amplitude=0.05, amplitude_jitter=0.3).amplitude
        for _ in range(200)
    ]
    assert 0.035 <= min(amplitudes) < 0.04 and 0.06 < max(amplitudes) <= 0.065
    plan = plan_motion(np.random.default_rng(1), "surprise", n_frames=10, apex=4)
    assert set(plan.units) == set(EXPRESSIONS["surprise"])
    assert plan.offset == 9
    assert plan.action_units == "1+2+5+26"


def test_clip_is_neutral_at_onset_and_moves_most_at_apex(face):
    rng = np.random.default_rng(3)
    plan = plan_motion(
        rng,
        "happiness",
        n_frames=12,
        onset=0,
        apex=6,
        offset=11,
        noise=0.0,
        drift=0.0,
        jitter=0.0,
        flicker=0.0,
    )
    frames = render_clip(face, plan, rng)
    assert frames.shape == (12, SIZE, SIZE, 3) and frames.dtype == np.uint8
    onset = frames[0].astype(float)
    change = [np.abs(frame.astype(float) - onset).mean() for frame in frames]
    assert int(np.argmax(change)) in (5, 6, 7)
    assert change[6] > 3 * change[1]


def test_clips_are_reproducible_from_the_seed(face):
    def make(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        plan = plan_motion(rng, "disgust", n_frames=6, apex=3)
        return render_clip(face, plan, rng)

    assert np.array_equal(make(7), make(7))
    assert not np.array_equal(make(7), make(8))


def test_grayscale_face_gives_one_channel_and_macro_still_moves_more():
    face = render_face(lfw_identity(3), 64, color=False)

    def still(expression: str, amplitude: float) -> np.ndarray:
        rng = np.random.default_rng(1)
        plan = plan_motion(rng, expression, amplitude=amplitude, noise=0.0)
        plan = replace(plan, shift=(0.0, 0.0), gain=1.0, jitter=0.0)
        return render_still(face, plan, rng).astype(float)

    neutral = still("neutral", MICRO_AMPLITUDE)
    assert neutral.shape == (64, 64, 1)
    micro = np.abs(still("surprise", MICRO_AMPLITUDE) - neutral).mean()
    macro = np.abs(still("surprise", MACRO_AMPLITUDE) - neutral).mean()
    assert macro > 1.5 * micro > 0

import numpy as np
import pytest

from expression_nas.preprocessing.normalization import (
    apex_position,
    linear_interpolate,
    normalize_length,
    onset_apex_pair,
    tim_interpolate,
)


@pytest.fixture
def clip() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(13, 6, 5), dtype=np.uint8)


@pytest.mark.parametrize("method", ["tim", "linear"])
@pytest.mark.parametrize("length", [1, 7, 13, 30, 152])
def test_length_and_endpoints(clip, method, length):
    out = normalize_length(clip, length, method)
    assert out.shape == (length, 6, 5) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], clip[0])
    if length > 1:
        np.testing.assert_array_equal(out[-1], clip[-1])


def test_tim_passes_through_the_original_frames_at_the_same_length(clip):
    np.testing.assert_array_equal(tim_interpolate(clip, 13), clip)


def test_tim_reproduces_a_smooth_cosine_motion_exactly():
    """TIM's curve is a cosine series: one basis function is resampled exactly."""
    n, m = 10, 25
    frames = np.cos(np.pi * 2 * (2 * np.arange(n) + 1) / (2 * n))[:, None] * np.ones((1, 3))
    positions = np.linspace(0, n - 1, m)
    expected = np.cos(np.pi * 2 * (2 * positions + 1) / (2 * n))[:, None] * np.ones((1, 3))
    np.testing.assert_allclose(tim_interpolate(frames, m), expected, atol=1e-12)


def test_linear_is_piecewise_linear():
    frames = np.array([[0.0], [10.0], [30.0]])
    np.testing.assert_allclose(linear_interpolate(frames, 5)[:, 0], [0, 5, 10, 20, 30])


def test_single_frame_and_colour_clips():
    still = np.full((1, 4, 4, 3), 9, dtype=np.uint8)
    assert normalize_length(still, 5, "tim").shape == (5, 4, 4, 3)
    assert (normalize_length(still, 5, "linear") == 9).all()


def test_rejects_unknown_method_and_bad_length(clip):
    with pytest.raises(ValueError, match="unknown interpolation"):
        normalize_length(clip, 5, "cubic")
    with pytest.raises(ValueError, match=">= 1"):
        normalize_length(clip, 0)


def test_apex_position_and_pair(clip):
    assert apex_position(onset=100, apex=150, offset=200, length=21) == 10
    assert apex_position(onset=100, apex=100, offset=200, length=21) == 0
    assert apex_position(onset=100, apex=200, offset=200, length=21) == 20
    pair = onset_apex_pair(clip, 4)
    np.testing.assert_array_equal(pair[0], clip[0])
    np.testing.assert_array_equal(pair[1], clip[4])

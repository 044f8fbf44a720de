import numpy as np
import pytest
import torch

from expression_nas.preprocessing.augmentation import (
    AugmentationConfig,
    ClipAugmenter,
    augmentation_plan,
)


def _clip(frames: int = 6, colour: bool = False) -> np.ndarray:
    """A clip whose frames are identical, so any per-frame difference comes from augmentation."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, size=(40, 40, 3) if colour else (40, 40), dtype=np.uint8)
    return np.stack([frame] * frames)


@pytest.mark.parametrize("colour", [False, True])
def test_same_transform_for_every_frame_of_a_clip(colour):
    clip = _clip(colour=colour)
    augmented = ClipAugmenter(AugmentationConfig())(clip, seed=11)
    assert augmented.shape == clip.shape and augmented.dtype == np.uint8
    assert not np.array_equal(augmented[0], clip[0])
    for frame in augmented[1:]:
        np.testing.assert_array_equal(frame, augmented[0])


def test_reproducible_by_seed_and_different_across_seeds():
    clip = _clip()
    augmenter = ClipAugmenter(AugmentationConfig())
    np.testing.assert_array_equal(augmenter(clip, seed=5), augmenter(clip, seed=5))
    assert not np.array_equal(augmenter(clip, seed=5), augmenter(clip, seed=6))


def test_seeding_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    ClipAugmenter(AugmentationConfig())(_clip(), seed=1)
    assert torch.equal(torch.rand(1), expected)


def test_plan_without_balancing_adds_copies_of_everything():
    plan = augmentation_plan(
        [0, 0, 1], copies=2, balance_classes=False, rng=np.random.default_rng(0)
    )
    assert plan[:3] == [(0, 0), (1, 0), (2, 0)]
    assert sorted(plan[3:]) == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]


def test_plan_with_balancing_equalises_classes_with_distinct_copies():
    labels = np.array([0, 0, 0, 0, 1, 2, 2])
    plan = augmentation_plan(labels, copies=0, balance_classes=True, rng=np.random.default_rng(0))
    counts = np.bincount([labels[row] for row, _ in plan])
    assert counts.tolist() == [4, 4, 4]
    assert len(set(plan)) == len(plan)  # every (row, copy) pair once: copies are distinct
    assert [row for row, copy in plan if copy == 0] == list(range(7))

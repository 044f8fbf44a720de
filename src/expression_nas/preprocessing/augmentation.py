"""Clip augmentation: one random transform per clip, applied identically to all its frames.

Built from torchvision's v2 transforms, which draw their random parameters once per call and
apply them to every image of a ``tv_tensors.Video`` [T, C, H, W]. Each call is seeded, so an
augmented copy is reproducible from (seed, sample, copy) alone. Defaults follow seed 003
(sec. 4.2.4): horizontal flip, rotation within +-10 degrees, translation 0.1, zoom 0.1,
contrast 0.1, brightness 0.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


@dataclass(frozen=True)
class AugmentationConfig:
    flip: bool = True
    rotation_deg: float = 10.0
    translation: float = 0.1
    zoom: float = 0.1
    contrast: float = 0.1
    brightness: float = 0.1


class ClipAugmenter:
    """Reusable, seeded augmentation of uint8 clips [T, H, W] or [T, H, W, 3] (stills: T = 1).

    >>> augmenter = ClipAugmenter(AugmentationConfig())
    >>> augmented = augmenter(clip, seed=7)  # same seed, same result
    """

    def __init__(self, config: AugmentationConfig) -> None:
        steps: list[v2.Transform] = []
        if config.flip:
            steps.append(v2.RandomHorizontalFlip(p=0.5))
        steps.append(
            v2.RandomAffine(
                degrees=config.rotation_deg,
                translate=(config.translation, config.translation),
                scale=(1.0 - config.zoom, 1.0 + config.zoom),
                interpolation=v2.InterpolationMode.BILINEAR,
            )
        )
        steps.append(v2.ColorJitter(brightness=config.brightness, contrast=config.contrast))
        self.transform = v2.Compose(steps)

    def __call__(self, clip: np.ndarray, seed: int) -> np.ndarray:
        color = clip.ndim == 4
        video = torch.from_numpy(np.array(clip))  # a writable copy (clips may be memory-mapped)
        video = video.permute(0, 3, 1, 2) if color else video.unsqueeze(1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            augmented = self.transform(tv_tensors.Video(video))
        augmented = augmented.permute(0, 2, 3, 1) if color else augmented.squeeze(1)
        return augmented.contiguous().numpy()


def augmentation_plan(
    labels: Sequence[int], copies: int, balance_classes: bool, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Which sample each output row comes from, and which copy of it it is (0 = unaugmented).

    Every sample appears once unaugmented. Without balancing, each also gets ``copies``
    augmented copies. With balancing, every class is filled up to ``(1 + copies)`` times the
    size of the largest class by augmented copies of its own samples, drawn in rounds so that
    copies spread evenly over the class's samples.
    """
    labels = np.asarray(labels)
    plan = [(row, 0) for row in range(len(labels))]
    classes, counts = np.unique(labels, return_counts=True)
    largest = counts.max() if len(counts) else 0
    made: dict[int, int] = {}
    for cls, count in zip(classes, counts, strict=True):
        members = np.flatnonzero(labels == cls)
        wanted = (1 + copies) * (largest if balance_classes else count) - count
        while wanted > 0:
            draw = rng.permutation(members)[: min(wanted, len(members))]
            for row in sorted(int(r) for r in draw):
                made[row] = made.get(row, 0) + 1
                plan.append((row, made[row]))
            wanted -= len(draw)
    return plan

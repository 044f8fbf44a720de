"""Torch datasets and loaders over prepared clip and still-image arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from expression_nas.preprocessing.augmentation import ClipAugmenter


class RowReadable(Protocol):
    """What ``ClipDataset`` and ``ImageDataset`` need from a store of clips or images: a numpy
    array, a memory map or a view that exposes only some rows (``evaluation.protocols.RowView``).
    """

    shape: tuple[int, ...]

    def __getitem__(self, row: int) -> Any: ...


def _checked_rows_and_labels(
    rows: Sequence[int] | np.ndarray, labels: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.asarray(rows, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if rows.ndim != 1 or rows.shape != labels.shape:
        raise ValueError(f"rows {rows.shape} and labels {labels.shape} must be 1-D and match")
    return rows, labels


class ClipDataset(Dataset):
    """Clips ``clips[rows[i]]`` with labels ``labels[i]``, as float32 in [0, 1].

    Grayscale clips [T, H, W] become [1, T, H, W], colour clips [T, H, W, 3] become
    [3, T, H, W]. Only the listed rows are ever read, one at a time, so a memory-mapped corpus
    is paged in on demand and nothing outside ``rows`` is touched.

    ``onset_difference_gain``: when set, each frame minus the clip's first (onset) frame, times
    the gain, instead of the frames themselves: the motion alone, which small networks trained
    briefly pick up far more easily than absolute appearance.
    """

    def __init__(
        self,
        clips: RowReadable,
        rows: Sequence[int] | np.ndarray,
        labels: Sequence[int],
        onset_difference_gain: float | None = None,
    ) -> None:
        rows, labels = _checked_rows_and_labels(rows, labels)
        if len(clips.shape) not in (4, 5):
            raise ValueError(f"expected clips [N, T, H, W] or [N, T, H, W, 3], got {clips.shape}")
        self.clips = clips
        self.rows = rows
        self.labels = labels
        self.onset_difference_gain = onset_difference_gain

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        clip = torch.from_numpy(np.array(self.clips[int(self.rows[index])], dtype=np.float32))
        clip = clip.permute(3, 0, 1, 2) if clip.ndim == 4 else clip.unsqueeze(0)
        clip.div_(255.0)
        if self.onset_difference_gain is not None:
            clip = (clip - clip[:, :1]).mul_(self.onset_difference_gain)
        return clip, int(self.labels[index])


class ImageDataset(Dataset):
    """Still images ``images[rows[i]]`` with labels ``labels[i]``, as float32 in [0, 1].

    Grayscale images [H, W] become [1, H, W], colour images [H, W, 3] become [3, H, W]. As in
    ``ClipDataset``, only the listed rows are read, one at a time.
    """

    def __init__(
        self, images: RowReadable, rows: Sequence[int] | np.ndarray, labels: Sequence[int]
    ) -> None:
        rows, labels = _checked_rows_and_labels(rows, labels)
        shape = tuple(images.shape)
        if not (len(shape) == 3 or (len(shape) == 4 and shape[-1] == 3)):
            raise ValueError(
                f"expected images [N, H, W] (grayscale) or [N, H, W, 3] (colour), got {shape}"
            )
        self.images = images
        self.rows = rows
        self.labels = labels

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self._as_tensor(self.images[int(self.rows[index])]), int(self.labels[index])

    @staticmethod
    def _as_tensor(image: Any) -> torch.Tensor:
        image = torch.from_numpy(np.array(image, dtype=np.float32))
        image = image.permute(2, 0, 1) if image.ndim == 3 else image.unsqueeze(0)
        return image.div_(255.0)


class AugmentedImageDataset(ImageDataset):
    """``ImageDataset`` whose every read is a new random transform of the image by
    ``augmenter`` (the project's clip/still augmentation), so each epoch sees other variants
    (on-the-fly augmentation, as seed 003 trains). Each transform's seed is drawn from torch's
    global generator, so a seeded training run is reproducible."""

    def __init__(
        self,
        images: RowReadable,
        rows: Sequence[int] | np.ndarray,
        labels: Sequence[int],
        augmenter: ClipAugmenter,
    ) -> None:
        super().__init__(images, rows, labels)
        self.augmenter = augmenter

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        still = np.asarray(self.images[int(self.rows[index])])[None]  # a clip of one frame
        seed = int(torch.randint(0, 2**31 - 1, ()))
        return self._as_tensor(self.augmenter(still, seed=seed)[0]), int(self.labels[index])


class CutoutImageDataset(ImageDataset):
    """``ImageDataset`` with cutout (DeVries & Taylor 2017): every read zeroes a ``size`` x
    ``size`` square centred at a random pixel (cut at the borders, so it may be smaller), a new
    square each time. The centres are drawn from torch's global generator, so a seeded
    training run is reproducible."""

    def __init__(
        self,
        images: RowReadable,
        rows: Sequence[int] | np.ndarray,
        labels: Sequence[int],
        size: int,
    ) -> None:
        super().__init__(images, rows, labels)
        if size < 1:
            raise ValueError(f"cutout size must be at least 1, got {size}")
        self.size = size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = super().__getitem__(index)
        height, width = image.shape[-2:]
        y, x = int(torch.randint(0, height, ())), int(torch.randint(0, width, ()))
        top, left = y - self.size // 2, x - self.size // 2
        image[..., max(0, top) : top + self.size, max(0, left) : left + self.size] = 0.0
        return image, label


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A single-process loader whose shuffling is driven by its own seeded generator, so the
    batch order is reproducible and independent of the global torch RNG."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=0, generator=generator
    )

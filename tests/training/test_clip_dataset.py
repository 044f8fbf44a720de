import numpy as np
import pytest
import torch

from expression_nas.training import ClipDataset, make_loader


class RecordingRows:
    """Array proxy that records every row index read."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape = array.shape
        self.reads: list[int] = []

    def __getitem__(self, row: int) -> np.ndarray:
        self.reads.append(row)
        return self.array[row]


def test_grayscale_clip_becomes_one_channel_float_in_unit_range():
    clips = np.zeros((3, 4, 5, 6), dtype=np.uint8)
    clips[1] = 255
    clip, label = ClipDataset(clips, [1], [2])[0]
    assert clip.shape == (1, 4, 5, 6)
    assert clip.dtype == torch.float32
    assert torch.all(clip == 1.0)
    assert label == 2


def test_colour_clip_moves_channels_first():
    clips = np.zeros((2, 4, 5, 6, 3), dtype=np.uint8)
    clips[0, ..., 2] = 51  # only the blue channel
    clip, _ = ClipDataset(clips, [0], [0])[0]
    assert clip.shape == (3, 4, 5, 6)
    assert torch.allclose(clip[2], torch.full((4, 5, 6), 0.2))
    assert torch.all(clip[:2] == 0)


def test_dataset_reads_only_its_rows():
    proxy = RecordingRows(np.arange(5 * 2 * 2 * 2, dtype=np.uint8).reshape(5, 2, 2, 2))
    dataset = ClipDataset(proxy, [4, 1], [0, 1])
    for batch in make_loader(dataset, batch_size=2, shuffle=True, seed=0):
        assert batch[0].shape == (2, 1, 2, 2, 2)
    assert sorted(proxy.reads) == [1, 4]


def test_mismatched_rows_and_labels_are_refused():
    with pytest.raises(ValueError, match="match"):
        ClipDataset(np.zeros((2, 1, 2, 2), np.uint8), [0, 1], [0])


def test_loader_order_depends_only_on_its_seed():
    clips = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    dataset = ClipDataset(clips, np.arange(10), np.arange(10))

    def order(seed: int) -> list[int]:
        return [int(v) for _, labels in make_loader(dataset, 3, True, seed) for v in labels]

    torch.manual_seed(123)
    first = order(5)
    torch.manual_seed(999)
    assert order(5) == first
    assert sorted(first) == list(range(10))

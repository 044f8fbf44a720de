import numpy as np
import pytest
import torch

from expression_nas.evaluation.protocols import RowView
from expression_nas.training import ImageDataset, make_loader


def test_grayscale_image_becomes_one_channel_float_in_unit_range():
    images = np.zeros((3, 5, 6), dtype=np.uint8)
    images[1] = 255
    image, label = ImageDataset(images, [1], [2])[0]
    assert image.shape == (1, 5, 6)
    assert image.dtype == torch.float32
    assert torch.all(image == 1.0)
    assert label == 2
    assert torch.all(ImageDataset(images, [0], [0])[0][0] == 0.0)


def test_colour_image_moves_channels_first():
    images = np.zeros((2, 5, 6, 3), dtype=np.uint8)
    images[0, ..., 2] = 51  # only the blue channel
    image, _ = ImageDataset(images, [0], [0])[0]
    assert image.shape == (3, 5, 6)
    assert torch.allclose(image[2], torch.full((5, 6), 0.2))
    assert torch.all(image[:2] == 0)


def test_row_view_and_memory_map_are_read_through(tmp_path):
    images = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8)
    path = tmp_path / "images.npy"
    np.save(path, images)
    view = RowView(np.load(path, mmap_mode="r"), np.array([3, 1]))
    dataset = ImageDataset(view, [0, 1], [7, 8])
    batch, labels = next(iter(make_loader(dataset, batch_size=2, shuffle=False)))
    assert batch.shape == (2, 1, 4, 4)
    assert torch.allclose(batch[:, 0, 0, 0], torch.tensor([3.0, 1.0]) / 255)
    assert labels.tolist() == [7, 8]
    with pytest.raises(IndexError):
        ImageDataset(view, [2], [0])[0]  # row 2 of the view does not exist


@pytest.mark.parametrize("shape", [(2, 5), (2, 5, 6, 4), (2, 3, 5, 6, 3)])
def test_wrong_shapes_are_refused_naming_the_expected_layout(shape):
    with pytest.raises(ValueError, match=r"\[N, H, W\] \(grayscale\) or \[N, H, W, 3\]"):
        ImageDataset(np.zeros(shape, np.uint8), [0], [0])


def test_mismatched_rows_and_labels_are_refused():
    with pytest.raises(ValueError, match="match"):
        ImageDataset(np.zeros((2, 4, 4), np.uint8), [0, 1], [0])

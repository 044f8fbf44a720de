"""Adam with early stopping keeps its best validation epoch and stops after ``patience``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from expression_nas.preprocessing.augmentation import AugmentationConfig, ClipAugmenter
from expression_nas.training.data import AugmentedImageDataset, ImageDataset
from expression_nas.training.early_stopping import (
    EarlyStoppingConfig,
    _validate,
    train_early_stopping,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _loaders(validation_agrees: bool) -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 4, generator=generator)
    labels = (inputs[:, 0] > 0).long()
    val_inputs = torch.randn(32, 4, generator=generator)
    val_labels = (val_inputs[:, 0] > 0).long()
    if not validation_agrees:  # the validation split contradicts training: it gets worse
        val_labels = 1 - val_labels
    train = DataLoader(TensorDataset(inputs, labels), batch_size=16, shuffle=False)
    return train, DataLoader(TensorDataset(val_inputs, val_labels), batch_size=32)


def test_it_keeps_the_best_epoch_and_stops_after_patience():
    train, validation = _loaders(validation_agrees=False)
    model = nn.Linear(4, 2)
    seen = []
    result = train_early_stopping(
        model,
        train,
        validation,
        EarlyStoppingConfig(lr=0.05, max_epochs=30, patience=3),
        on_epoch_end=lambda epoch, record: seen.append(epoch),
    )
    losses = [record["val_loss"] for record in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert result.stop_epoch == result.best_epoch + 3 == len(result.history) == seen[-1]
    assert result.best_val_loss == min(losses)
    # the model holds the best epoch's weights, not the last epoch's
    assert _validate(model, validation, "cpu") == pytest.approx(
        (result.best_val_loss, result.best_val_accuracy)
    )
    assert losses[-1] > result.best_val_loss


def test_it_runs_to_max_epochs_while_it_improves():
    train, validation = _loaders(validation_agrees=True)
    result = train_early_stopping(
        nn.Linear(4, 2),
        train,
        validation,
        EarlyStoppingConfig(lr=0.01, max_epochs=5, patience=2),
        class_weights=[0.5, 2.0],
    )
    assert result.stop_epoch == 5 == result.best_epoch
    assert set(result.history[0]) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
    }


def test_augmented_images_are_new_transforms_at_each_read_and_reproducible():
    images = np.random.default_rng(0).integers(0, 255, (3, 16, 16), dtype=np.uint8)
    augmented = AugmentedImageDataset(
        images, [2, 0], [5, 6], ClipAugmenter(AugmentationConfig(rotation_deg=30.0))
    )
    plain = ImageDataset(images, [2, 0], [5, 6])
    torch.manual_seed(1)
    first, label = augmented[0]
    second, _ = augmented[0]
    torch.manual_seed(1)
    again, _ = augmented[0]
    assert label == 5 and first.shape == plain[0][0].shape == (1, 16, 16)
    assert not torch.equal(first, second) and torch.equal(first, again)
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0

import numpy as np
import torch
from torch import nn

from expression_nas.training import (
    ClipDataset,
    OptimizerConfig,
    make_loader,
    predict,
    train_fixed_epochs,
)


def separable_clips(n: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 clips are brighter in their upper half; class 0 in their lower half."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    clips = rng.integers(0, 60, size=(n, 3, 8, 8)).astype(np.uint8)
    clips[labels == 1, :, :4] += 150
    clips[labels == 0, :, 4:] += 150
    return clips, labels


def tiny_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(1, 4, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d((1, 2, 1)),
        nn.Flatten(),
        nn.Linear(8, 2),
    )


def train_once(epochs: int = 12) -> tuple[nn.Module, list[dict]]:
    clips, labels = separable_clips()
    loader = make_loader(ClipDataset(clips, np.arange(len(labels)), labels), 8, True, seed=0)
    torch.manual_seed(0)
    model = tiny_model()
    config = OptimizerConfig(lr=0.05, epochs=epochs, batch_size=8)
    return model, train_fixed_epochs(model, loader, config, seed=0)


def test_training_learns_a_separable_problem():
    seen_epochs = []
    clips, labels = separable_clips()
    loader = make_loader(ClipDataset(clips, np.arange(len(labels)), labels), 8, True, seed=0)
    torch.manual_seed(0)
    model = tiny_model()
    history = train_fixed_epochs(
        model,
        loader,
        OptimizerConfig(lr=0.05, epochs=12, batch_size=8),
        class_weights=[1.0, 1.0],
        on_epoch_end=lambda epoch, record: seen_epochs.append(epoch),
    )
    assert [record["epoch"] for record in history] == list(range(1, 13)) == seen_epochs
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["accuracy"] > 0.5
    # cosine annealing: the lr falls from its initial value
    assert history[0]["lr"] == 0.05 > history[-1]["lr"]

    ordered = make_loader(ClipDataset(clips, np.arange(len(labels)), labels), 8, False)
    y_true, y_pred, probabilities = predict(model, ordered, "cpu")
    np.testing.assert_array_equal(y_true, labels)
    assert probabilities.shape == (len(labels), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(y_pred, probabilities.argmax(axis=1))
    assert np.mean(y_pred == y_true) > 0.5


def test_same_seed_gives_identical_weights():
    first, first_history = train_once(epochs=3)
    second, second_history = train_once(epochs=3)
    assert first_history == second_history
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name

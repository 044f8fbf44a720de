"""Training of derived networks: clip and image datasets and the fixed-epoch SGD loop."""

from expression_nas.training.data import ClipDataset, ImageDataset, make_loader
from expression_nas.training.loop import OptimizerConfig, predict, train_fixed_epochs

__all__ = [
    "ClipDataset",
    "ImageDataset",
    "OptimizerConfig",
    "make_loader",
    "predict",
    "train_fixed_epochs",
]

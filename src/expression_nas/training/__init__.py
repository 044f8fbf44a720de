"""Training of derived networks: clip datasets and the fixed-epoch SGD loop."""

from expression_nas.training.data import ClipDataset, make_loader
from expression_nas.training.loop import OptimizerConfig, predict, train_fixed_epochs

__all__ = ["ClipDataset", "OptimizerConfig", "make_loader", "predict", "train_fixed_epochs"]

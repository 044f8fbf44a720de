"""Adam training with early stopping on a validation split, keeping the best weights (Keras'
``EarlyStopping(patience, restore_best_weights=True)``, as seed 003 trains).

The validation loader must hold training-side data only: FER2013's PublicTest, or subjects
held out of a fold's training subjects (``evaluation.protocols.subject_validation_split``).
The epoch kept is chosen by the validation loss, so a test split must never be passed here.
The validation loss is the plain (unweighted) cross-entropy, as Keras computes it when a class
weighting applies to the training loss only.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from expression_nas import progress as progress_of
from expression_nas.training.loop import train_epoch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Adam settings and the stopping rule; defaults: seed 003 (patience 10, at most 100
    epochs) with Keras' Adam defaults."""

    lr: float = 1e-3
    max_epochs: int = 100
    patience: int = 10
    weight_decay: float = 0.0
    min_delta: float = 0.0


@dataclass(frozen=True)
class EarlyStoppingResult:
    """``history``: one record per epoch run (epoch 1-based, train_loss, train_accuracy,
    val_loss, val_accuracy, seconds); ``best_epoch``: the epoch whose weights the model holds;
    ``stop_epoch``: the last epoch run."""

    history: list[dict]
    best_epoch: int
    stop_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    seconds_per_epoch: float


def _validate(
    model: nn.Module, loader: DataLoader, device: str | torch.device
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over ``loader`` (eval mode, no autograd)."""
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for inputs, batch_targets in loader:
            targets = batch_targets.to(device)
            logits = model(inputs.to(device))
            loss_sum += nn.functional.cross_entropy(logits, targets, reduction="sum").item()
            correct += (logits.argmax(dim=1) == targets).sum().item()
            seen += len(targets)
    if seen == 0:
        raise ValueError("the validation loader yielded no samples")
    return loss_sum / seen, correct / seen


def train_early_stopping(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    config: EarlyStoppingConfig,
    device: str | torch.device = "cpu",
    class_weights: Sequence[float] | torch.Tensor | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    seed: int = 0,
) -> EarlyStoppingResult:
    """Train ``model`` in place with Adam on (optionally class-weighted) cross-entropy until
    the validation loss has not improved by more than ``min_delta`` for ``patience`` epochs,
    or ``max_epochs``; the model ends with the weights of its best validation epoch.

    ``on_epoch_end(epoch, record)`` runs after each epoch (logging, or an Optuna pruner that
    raises ``optuna.TrialPruned``).
    """
    torch.manual_seed(seed)
    model.to(device)
    weights = None
    if class_weights is not None:
        weights = torch.as_tensor(class_weights, dtype=torch.float32, device=device)
    criterion = nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: list[dict] = []
    best_loss, best_accuracy, best_epoch = float("inf"), 0.0, 0
    best_state = copy.deepcopy(model.state_dict())
    progress = progress_of.track(range(1, config.max_epochs + 1), "train", "epoch")
    for epoch in progress:
        started = time.perf_counter()
        train_loss, train_accuracy = train_epoch(model, train_loader, criterion, optimizer, device)
        val_loss, val_accuracy = _validate(model, val_loader, device)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        if val_loss < best_loss - config.min_delta:
            best_loss, best_accuracy, best_epoch = val_loss, val_accuracy, epoch
            best_state = copy.deepcopy(model.state_dict())
        progress.set_postfix(val_loss=f"{val_loss:.4f}", best=best_epoch)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
        if epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    result = EarlyStoppingResult(
        history=history,
        best_epoch=best_epoch,
        stop_epoch=history[-1]["epoch"],
        best_val_loss=best_loss,
        best_val_accuracy=best_accuracy,
        seconds_per_epoch=sum(r["seconds"] for r in history) / len(history),
    )
    logger.info(
        "stopped after epoch %d; kept epoch %d: validation loss %.4f, accuracy %.3f",
        result.stop_epoch,
        best_epoch,
        best_loss,
        best_accuracy,
    )
    return result

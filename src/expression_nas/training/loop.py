"""Fixed-epoch training of a derived network and batched prediction.

There is deliberately no early stopping and no choice of a "best" epoch: the model after the
last epoch is the model. Selecting an epoch by its score on the test subject is a known leak
in published MER code (DESIGN.md sec. 5); when a selection is wanted, it must come from a
validation split of the training subjects (``evaluation.protocols.subject_validation_split``).

Under ``torchrun`` (``distributed``) the training is data-parallel: the model is wrapped in
``DistributedDataParallel``, each rank trains on its shard of the loader (batch size per
rank), and the epoch records are of the whole loader. ``predict`` is not sharded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from expression_nas import distributed
from expression_nas import progress as progress_of

logger = logging.getLogger(__name__)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``threads`` for the block (None: left as they are).
    Small networks on a shared CPU often train fastest on one thread: several contend."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass(frozen=True)
class OptimizerConfig:
    """SGD settings; the defaults are seed 000's training of the derived network."""

    lr: float = 0.007
    momentum: float = 0.9
    weight_decay: float = 3e-4
    epochs: int = 70
    batch_size: int = 12
    cosine: bool = True
    #: clip norm of the weight gradients (None: no clipping)
    grad_clip: float | None = None


class WholeBatchCrossEntropy(nn.Module):
    """Under torchrun: the (class-weighted) cross-entropy of the whole batch of all ranks
    (``distributed.whole_batch_mean``), where each rank's weighted mean would weigh its own
    classes. Its value on a rank is that rank's share times the world size, so the mean over
    the ranks is the whole batch's loss."""

    def __init__(self, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        total = nn.functional.cross_entropy(logits, targets, weight=self.weight, reduction="sum")
        if self.weight is None:
            normaliser = torch.tensor(float(len(targets)), device=logits.device)
        else:
            normaliser = self.weight[targets].sum()
        return distributed.whole_batch_mean(total, normaliser)


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: str | torch.device,
    grad_clip: float | None = None,
) -> tuple[float, float]:
    """One pass over ``loader`` in training mode; the mean loss and accuracy of its batches
    as they were seen. ``grad_clip``: clip the gradients' global norm before each step."""
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for batch_inputs, batch_targets in loader:
        targets = batch_targets.to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch_inputs.to(device))
        loss = criterion(logits, targets)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        loss_sum += loss.item() * len(targets)
        correct += (logits.argmax(dim=1) == targets).sum().item()
        seen += len(targets)
    totals = distributed.sum_over_ranks({"loss": loss_sum, "correct": correct, "seen": seen})
    if totals["seen"] == 0:
        raise ValueError("the training loader yielded no samples")
    return totals["loss"] / totals["seen"], totals["correct"] / totals["seen"]


def train_fixed_epochs(
    model: nn.Module,
    train_loader: DataLoader,
    config: OptimizerConfig,
    device: str | torch.device = "cpu",
    class_weights: Sequence[float] | torch.Tensor | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    seed: int = 0,
) -> list[dict]:
    """Train ``model`` in place for ``config.epochs`` epochs of SGD (cosine-annealed lr when
    ``config.cosine``, gradients clipped at ``config.grad_clip``) on cross-entropy, optionally
    class-weighted.

    Returns one record per epoch, ``{"epoch" (1-based), "loss", "accuracy", "lr"}``, measured
    on the training batches as they were seen (training mode). ``on_epoch_end(epoch, record)``
    is called after each epoch, e.g. to log metrics. ``config.batch_size`` is the loader's
    business; it is not read here (under torchrun it is per rank: ``train_loader`` is sharded
    here, and the model trained through ``DistributedDataParallel``).
    """
    torch.manual_seed(seed)
    model.to(device)
    parallel = distributed.wrap_ddp(model, device)
    train_loader = distributed.shard_loader(train_loader)
    weights = None
    if class_weights is not None:
        weights = torch.as_tensor(class_weights, dtype=torch.float32, device=device)
    criterion = WholeBatchCrossEntropy(weights) if distributed.active() else None
    criterion = criterion or nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        if config.cosine
        else None
    )
    history: list[dict] = []
    progress = progress_of.track(range(1, config.epochs + 1), "train", "epoch")
    for epoch in progress:
        lr = optimizer.param_groups[0]["lr"]
        loss, accuracy = train_epoch(
            parallel, train_loader, criterion, optimizer, device, config.grad_clip
        )
        if scheduler is not None:
            scheduler.step()
        record = {"epoch": epoch, "loss": loss, "accuracy": accuracy, "lr": lr}
        history.append(record)
        progress.set_postfix(loss=f"{record['loss']:.4f}", acc=f"{record['accuracy']:.3f}")
        logger.debug("epoch %d: loss %.4f, accuracy %.3f", epoch, loss, accuracy)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
    distributed.average_buffers_(model)  # the replicas' BatchNorm statistics agree afterwards
    if history:
        logger.info(
            "trained %d epochs: final training loss %.4f, accuracy %.3f",
            config.epochs,
            history[-1]["loss"],
            history[-1]["accuracy"],
        )
    return history


def predict(
    model: nn.Module, loader: DataLoader, device: str | torch.device = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y_true, y_pred, probabilities)`` over ``loader``; leaves the model in eval mode."""
    model.to(device)
    model.eval()
    truths, probabilities = [], []
    with torch.no_grad():
        for inputs, targets in loader:
            logits = model(inputs.to(device))
            probabilities.append(torch.softmax(logits, dim=1).cpu().numpy())
            truths.append(np.asarray(targets))
    if not truths:
        raise ValueError("the loader yielded no samples")
    probs = np.concatenate(probabilities)
    return np.concatenate(truths), probs.argmax(axis=1), probs

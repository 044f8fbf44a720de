"""The differentiable search loop: alternate weight steps on training batches and architecture
steps on validation batches, checkpoint every epoch, resume after an interruption.

Works with any supernet that exposes ``arch_parameters()``, ``weight_parameters()``,
``arch_snapshot()`` and ``derive()``. Both batches come from the *search* subjects only; the
caller keeps every evaluation subject out of them.

How the architecture is updated is a ``SearchStrategy``: DARTS' unrolled hypergradient
(``UnrolledStrategy``, first or second order) by default, or e.g. the self-tuning-network
strategy of DARTS-STN (``nas.stn_search``). Non-finite losses skip their step and are
counted (``skipped_steps`` in the epoch record); a run of them stops the search with an error.

Under ``torchrun`` (``distributed``) each rank searches on its shard of both loaders, with the
batch size per rank; the weight gradients are averaged before clipping and the architecture
gradients before their optimiser's step (the strategies see to that), so the supernet and both
optimisers stay identical on every rank. Rank 0 alone reads and writes the checkpoint (the
state it read is sent to the others) and reports each epoch; the checkpoint holds nothing that
depends on the world size, so a search resumes under any other.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from expression_nas import distributed, interruptions, progress, tracking
from expression_nas.nas.bilevel import first_order_arch_step, second_order_arch_step
from expression_nas.training.checkpoints import load_checkpoint, save_checkpoint

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchSettings:
    """Defaults are seed 000's search settings (30 epochs, batch 4, SGD momentum 0.9, cosine
    lr 0.007, weight decay 3e-4); the architecture optimiser is DARTS' Adam (3e-4, 1e-3)."""

    epochs: int = 30
    batch_size: int = 4
    lr: float = 0.007
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    order: str = "first"  # or "second"
    arch_warmup_epochs: int = 0  # weight-only epochs before architecture updates start
    grad_clip: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.order not in {"first", "second"}:
            raise ValueError(f"search.order must be 'first' or 'second', got {self.order!r}")


@dataclass
class SearchResult:
    spec: dict[str, Any]
    history: list[dict[str, float]]
    arch_history: list[dict[str, Any]]
    seconds: float
    resumed_from_epoch: int = 0


EpochCallback = Callable[[int, dict[str, float], dict[str, Any]], None]
Batch = tuple[torch.Tensor, torch.Tensor]

#: Consecutive non-finite losses after which a search gives up.
MAX_CONSECUTIVE_NONFINITE = 20


class SearchStrategy(Protocol):
    """The outer level of a bilevel search."""

    def weight_logits(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """The logits the weight step descends on (e.g. at perturbed hyper-parameters)."""

    def arch_step(
        self, model: nn.Module, train_batch: Batch, val_batches: Iterator[Batch], lr: float
    ) -> bool:
        """Update the architecture (called before every weight step); False if skipped
        because its loss was not finite."""

    def snapshot(self) -> dict[str, Any]:
        """Strategy state worth recording each epoch (merged into the architecture record)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class UnrolledStrategy:
    """DARTS: Adam on the architecture parameters, with the first-order gradient or the
    second-order one-step unrolled hypergradient (xi = the current weight learning rate)."""

    def __init__(self, model: nn.Module, settings: SearchSettings) -> None:
        self.settings = settings
        self.optimizer = torch.optim.Adam(
            model.arch_parameters(),
            lr=settings.arch_lr,
            betas=(0.5, 0.999),
            weight_decay=settings.arch_weight_decay,
        )
        distributed.average_gradients_before_step(self.optimizer)

    def weight_logits(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs)

    def arch_step(
        self, model: nn.Module, train_batch: Batch, val_batches: Iterator[Batch], lr: float
    ) -> bool:
        val_batch = next(val_batches)
        if self.settings.order == "second":
            loss = second_order_arch_step(
                model,
                self.optimizer,
                train_batch,
                val_batch,
                xi=lr,
                weight_decay=self.settings.weight_decay,
            )
        else:
            loss = first_order_arch_step(model, self.optimizer, val_batch)
        return math.isfinite(loss)

    def snapshot(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


def run_search(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    settings: SearchSettings,
    checkpoint_path: Path | None = None,
    run_key: str = "",
    device: str | torch.device = "cpu",
    on_epoch_end: EpochCallback | None = None,
    strategy: SearchStrategy | None = None,
) -> SearchResult:
    """Search for ``settings.epochs`` epochs; resume from ``checkpoint_path`` when it holds an
    unfinished (or finished) search with the same ``run_key``. ``strategy`` defaults to
    DARTS' (``UnrolledStrategy``), built after the model is moved to ``device``. Under a
    process group the loaders are sharded here (``distributed.shard_loader``)."""
    torch.manual_seed(settings.seed)
    model.to(device)
    main = distributed.is_main()
    train_loader = distributed.shard_loader(train_loader)
    val_loader = distributed.shard_loader(val_loader)
    weight_optimizer = torch.optim.SGD(
        model.weight_parameters(),
        lr=settings.lr,
        momentum=settings.momentum,
        weight_decay=settings.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        weight_optimizer, T_max=max(settings.epochs, 1), eta_min=settings.lr_min
    )
    if strategy is None:
        strategy = UnrolledStrategy(model, settings)
    history: list[dict[str, float]] = []
    arch_history: list[dict[str, Any]] = []
    start_epoch, elapsed = 0, 0.0
    state = distributed.broadcast_object(
        _load_checkpoint(checkpoint_path, run_key) if main else None
    )
    if state is not None:
        model.load_state_dict(state["model"])
        weight_optimizer.load_state_dict(state["weight_optimizer"])
        strategy.load_state_dict(state["strategy"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, arch_history = state["history"], state["arch_history"]
        start_epoch, elapsed = state["epoch"] + 1, state["seconds"]
        logger.info("resuming search from %s after epoch %d", checkpoint_path, state["epoch"])
        tracking.set_tags(interruptions.resumed_tags(state, state["epoch"]))
        if main and on_epoch_end is not None:  # the new run gets the whole history
            for metrics, snapshot in zip(history, arch_history, strict=True):
                on_epoch_end(
                    metrics["epoch"], metrics, {k: v for k, v in snapshot.items() if k != "epoch"}
                )

    epochs = range(start_epoch, settings.epochs)
    for epoch in progress.track(epochs, "search", "epoch", settings.epochs, start_epoch):
        started = time.perf_counter()
        _reseed_shuffling(train_loader, settings.seed * 10_007 + epoch)
        _reseed_shuffling(val_loader, settings.seed * 10_007 + epoch + 5_003)
        update_arch = epoch >= settings.arch_warmup_epochs
        metrics = _search_epoch(
            model,
            train_loader,
            val_loader,
            settings,
            weight_optimizer,
            strategy,
            scheduler.get_last_lr()[0],
            update_arch,
            device,
            f"search epoch {epoch + 1}/{settings.epochs}",
        )
        scheduler.step()
        elapsed += time.perf_counter() - started
        metrics = {"epoch": epoch, **metrics, "seconds": elapsed}
        snapshot = {**model.arch_snapshot(), **strategy.snapshot()}
        history.append(metrics)
        arch_history.append({"epoch": epoch, **snapshot})
        logger.info(
            "search epoch %d: train loss %.3f acc %.3f | val loss %.3f acc %.3f",
            epoch + 1,
            metrics["train_loss"],
            metrics["train_accuracy"],
            metrics["val_loss"],
            metrics["val_accuracy"],
        )
        if main and on_epoch_end is not None:
            on_epoch_end(epoch, metrics, snapshot)
        if main and checkpoint_path is not None:
            save_checkpoint(
                checkpoint_path,
                {
                    "run_key": run_key,
                    "epoch": epoch,
                    "seconds": elapsed,
                    "model": model.state_dict(),
                    "weight_optimizer": weight_optimizer.state_dict(),
                    "strategy": strategy.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                    "history": history,
                    "arch_history": arch_history,
                    **interruptions.checkpoint_lineage(),
                },
            )
    return SearchResult(
        spec=model.derive(),
        history=history,
        arch_history=arch_history,
        seconds=elapsed,
        resumed_from_epoch=start_epoch,
    )


def _search_epoch(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    settings: SearchSettings,
    weight_optimizer: torch.optim.Optimizer,
    strategy: SearchStrategy,
    lr: float,
    update_arch: bool,
    device: str | torch.device,
    description: str,
) -> dict[str, float]:
    model.train()
    totals = {
        "train_loss": 0.0,
        "train_correct": 0,
        "train_n": 0,
        "val_loss": 0.0,
        "val_correct": 0,
        "val_n": 0,
    }
    val_batches = cycle(val_loader)
    skipped, consecutive = 0, 0
    for batch in progress.track(train_loader, description, "batch"):
        inputs, targets = (t.to(device) for t in batch)
        finite = True
        if update_arch:
            moved = ((x.to(device), y.to(device)) for x, y in val_batches)
            finite = strategy.arch_step(model, (inputs, targets), moved, lr)
        weight_optimizer.zero_grad(set_to_none=True)
        logits = strategy.weight_logits(model, inputs)
        loss = nn.functional.cross_entropy(logits, targets)
        if distributed.all_agree(bool(torch.isfinite(loss))):
            loss.backward()
            for parameter in model.arch_parameters():
                parameter.grad = None
            distributed.average_gradients(model.weight_parameters())
            nn.utils.clip_grad_norm_(model.weight_parameters(), settings.grad_clip)
            weight_optimizer.step()
            totals["train_loss"] += float(loss.detach()) * len(targets)
            totals["train_correct"] += int((logits.argmax(1) == targets).sum())
            totals["train_n"] += len(targets)
        else:
            finite = False
        skipped += not finite
        consecutive = 0 if finite else consecutive + 1
        if consecutive >= MAX_CONSECUTIVE_NONFINITE:
            raise FloatingPointError(
                f"{description}: {consecutive} steps in a row had a non-finite loss; lower the "
                "learning rates (search.lr, search.arch_lr) or the perturbation scale"
            )
    distributed.average_buffers_(model)  # BatchNorm's statistics saw this rank's batches only
    model.eval()
    with torch.no_grad():
        for batch in val_loader:
            inputs, targets = (t.to(device) for t in batch)
            logits = model(inputs)
            totals["val_loss"] += float(nn.functional.cross_entropy(logits, targets)) * len(targets)
            totals["val_correct"] += int((logits.argmax(1) == targets).sum())
            totals["val_n"] += len(targets)
    totals = distributed.sum_over_ranks(totals)  # a shard's totals -> the split's
    return {
        "train_loss": totals["train_loss"] / max(totals["train_n"], 1),
        "train_accuracy": totals["train_correct"] / max(totals["train_n"], 1),
        "val_loss": totals["val_loss"] / max(totals["val_n"], 1),
        "val_accuracy": totals["val_correct"] / max(totals["val_n"], 1),
        "lr": lr,
        "skipped_steps": skipped,
    }


def _reseed_shuffling(loader: Iterable, seed: int) -> None:
    """Seed a DataLoader's shuffling per epoch, so a resumed search sees the same batches."""
    generator = getattr(loader, "generator", None)
    if generator is not None:
        generator.manual_seed(seed)


def _load_checkpoint(path: Path | None, run_key: str) -> dict[str, Any] | None:
    state = load_checkpoint(path, run_key)
    if state is not None and "strategy" not in state:  # written before strategies: DARTS' Adam
        state["strategy"] = {"optimizer": state.pop("arch_optimizer")}
    return state

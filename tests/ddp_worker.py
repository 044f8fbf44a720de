"""One worker of ``tests/test_distributed.py``: run by ``torchrun --nproc_per_node=2`` (batch b
per rank) or by plain ``python`` (one process, batch 2b), it runs one search epoch of each
strategy, one training epoch and a search resumed from another world size's checkpoint, and
saves what they ended with under ``OUT`` (``<case>_rank<r>.pt``).

    python tests/ddp_worker.py OUT BATCH [--resume-from CHECKPOINT]

The networks have no BatchNorm, so that a step on two shards is exactly a step on their union
(per-rank batch statistics would differ from the whole batch's); the DARTS supernet case,
which has BatchNorm, checks only that the replicas stay identical and rank 0 alone writes.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from tiny_supernet import TinySupernet
from torch import nn
from torch.utils.data import TensorDataset

from expression_nas import distributed
from expression_nas.nas.darts.search_space import DartsSearchConfig, DartsSupernet
from expression_nas.nas.search_loop import SearchSettings, run_search
from expression_nas.nas.stn_search import StnSettings, StnStrategy
from expression_nas.training.data import make_loader
from expression_nas.training.loop import OptimizerConfig, train_fixed_epochs


def search_data(batch: int):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(48, 6, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    train = make_loader(TensorDataset(x[:32], y[:32]), batch, shuffle=True, seed=1)
    val = make_loader(TensorDataset(x[32:], y[32:]), batch, shuffle=True, seed=2)
    return train, val


def save(out: Path, case: str, **state) -> None:
    torch.save(state, out / f"{case}_rank{distributed.rank()}.pt")


def search_cases(out: Path, batch: int) -> None:
    for case in ("first", "second", "stn"):
        torch.manual_seed(0)
        model = TinySupernet()
        settings = SearchSettings(
            epochs=1, lr=0.1, arch_lr=0.05, order=case.replace("stn", "first")
        )
        strategy = (
            StnStrategy(model, StnSettings(t_train=1, sigma_lr=0.05), 0.05, 1e-3, seed=3)
            if case == "stn"
            else None
        )
        result = run_search(model, *search_data(batch), settings, strategy=strategy)
        save(out, f"search_{case}", model=model.state_dict(), history=result.history)


def resume_case(out: Path, batch: int, resume_from: Path | None) -> None:
    """Two epochs; the world-size-2 run keeps its checkpoint of epoch 1, from which the
    world-size-1 run resumes the second epoch."""
    checkpoint = out / f"resume_checkpoint_rank{distributed.rank()}.pt"
    if resume_from is not None:
        shutil.copy(resume_from, checkpoint)

    def keep_first_epoch(epoch, metrics, snapshot):
        if epoch == 1 and resume_from is None:
            shutil.copy(checkpoint, out / "after_epoch_0.pt")

    torch.manual_seed(0)
    model = TinySupernet()
    settings = SearchSettings(epochs=2, lr=0.1, arch_lr=0.05)
    result = run_search(
        model, *search_data(batch), settings, checkpoint, "key", on_epoch_end=keep_first_epoch
    )
    save(out, "resume", model=model.state_dict(), resumed_from=result.resumed_from_epoch)


def training_case(out: Path, batch: int) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 1, 8, 8, generator=generator)
    y = (x.mean((1, 2, 3)) > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(16, 2),
    )  # fmt: skip
    loader = make_loader(TensorDataset(x, y), batch, shuffle=True, seed=4)
    config = OptimizerConfig(lr=0.1, epochs=1, batch_size=batch)
    history = train_fixed_epochs(model, loader, config, class_weights=[1.0, 2.0], seed=0)
    save(out, "training", model=model.state_dict(), history=history)


def darts_case(out: Path, batch: int) -> None:
    torch.manual_seed(0)
    config = DartsSearchConfig(
        channels=2,
        layers=3,
        nodes=2,
        operations=("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3"),
        input_size=(8, 8),
    )
    model = DartsSupernet(config)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(24, 1, 8, 8, generator=generator)
    y = torch.randint(0, 7, (24,), generator=generator)
    train = make_loader(TensorDataset(x[:16], y[:16]), batch, shuffle=True, seed=1)
    val = make_loader(TensorDataset(x[16:], y[16:]), batch, shuffle=True, seed=2)
    checkpoint = out / f"darts_checkpoint_rank{distributed.rank()}.pt"
    run_search(model, train, val, SearchSettings(epochs=1), checkpoint, "darts")
    save(out, "darts", model=model.state_dict())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("batch", type=int)
    parser.add_argument("--resume-from", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    distributed.init()
    try:
        search_cases(args.out, args.batch)
        resume_case(args.out, args.batch, args.resume_from)
        training_case(args.out, args.batch)
        if distributed.world_size() > 1:
            darts_case(args.out, args.batch)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main()

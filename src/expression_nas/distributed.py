"""Data-parallel runs under ``torchrun``: the process group, who writes, sharded loaders and the
gradient averaging the search loop needs.

``torchrun --nproc_per_node=N -m expression_nas run ...`` starts N copies of the Kedro run.
Each copy joins the process group (gloo on the CPU, NCCL on CUDA, ``init``), runs every node,
and trains on its own shard of each training loader (``shard_loader``); gradients are averaged
before each optimiser step, so the replicas stay identical. Rank 0 alone writes: checkpoints,
the catalog's persisted datasets (``catalog.rank_zero.RankZeroCatalog``) and MLflow
(``settings.py`` gives the other ranks no kedro-mlflow hook: no run is ever open there).

Without torchrun (no ``WORLD_SIZE`` in the environment, or 1) every helper is a no-op and the
code runs exactly as a single process did before.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

logger = logging.getLogger(__name__)


def env_rank() -> int:
    """This process's global rank as torchrun announces it (0 without torchrun); known before
    the process group exists, e.g. when ``settings.py`` picks the hooks."""
    return int(os.environ.get("RANK", "0"))


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def active() -> bool:
    """Whether this process is one of several in an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes files and logs to MLflow."""
    return rank() == 0 and env_rank() == 0


def backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def init(timeout_minutes: float = 30.0) -> bool:
    """Join the process group torchrun set up (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...),
    once; on CUDA each process takes the GPU of its ``LOCAL_RANK``. False when not under
    torchrun (or world size 1): nothing to join."""
    if env_world_size() <= 1 or not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend(), timeout=timedelta(minutes=timeout_minutes))
    logger.info("rank %d of %d joined the %s process group", rank(), world_size(), backend())
    return True


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def _collective_device(tensors: Sequence[torch.Tensor]) -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return tensors[0].device if tensors else torch.device("cpu")


def average_(tensors: Iterable[torch.Tensor | None]) -> None:
    """Replace each tensor (None skipped) in place by its mean over the ranks: one all-reduce
    of them flattened together, as DDP's gradient buckets do."""
    if not active():
        return
    present = [t for t in tensors if t is not None]
    if not present:
        return
    device = _collective_device(present)
    flat = torch.cat([t.detach().reshape(-1).to(device, torch.float64) for t in present])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for tensor in present:
        n = tensor.numel()
        tensor.copy_(flat[offset : offset + n].view_as(tensor).to(tensor.dtype))
        offset += n


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over the ranks (a parameter without one on a rank counts as zero
    there: every rank must pass the same parameters)."""
    if not active():
        return
    parameters = list(parameters)
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    average_(p.grad for p in parameters)


def average_gradients_before_step(optimizer: torch.optim.Optimizer) -> None:
    """Make every ``optimizer.step()`` average its parameters' gradients over the ranks first,
    so the parameters and the optimiser's state stay identical on every rank (a no-op hook
    without a process group)."""

    def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        average_gradients(p for group in optimizer.param_groups for p in group["params"])

    optimizer.register_step_pre_hook(hook)


def all_agree(flag: bool) -> bool:
    """True only where ``flag`` holds on every rank: ranks must take the same branch around a
    collective (e.g. skip a step whose loss was not finite on any of them)."""
    if not active():
        return flag
    device = _collective_device([])
    value = torch.tensor([0 if flag else 1], dtype=torch.int64, device=device)
    dist.all_reduce(value)
    return int(value) == 0


def sum_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Each value summed over the ranks (e.g. a loss total and a sample count)."""
    if not active() or not values:
        return dict(values)
    keys = sorted(values)
    device = _collective_device([])
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist(), strict=True))


def whole_batch_mean(total: torch.Tensor, normaliser: torch.Tensor) -> torch.Tensor:
    """A loss to back-propagate under DDP (which averages gradients over the ranks) whose
    gradient is that of ``sum(totals) / sum(normalisers)`` over the ranks: e.g. a class-weighted
    cross-entropy of the whole batch, which per-rank weighted means do not average to.
    Without a process group: ``total / normaliser``."""
    if not active():
        return total / normaliser
    whole = normaliser.detach().to(_collective_device([normaliser]), torch.float64)
    dist.all_reduce(whole)
    return total * world_size() / whole.to(total.device, total.dtype)


def broadcast_object(value: Any, src: int = 0) -> Any:
    """``value`` as rank ``src`` holds it, on every rank (pickled; e.g. a checkpoint read by
    rank 0 alone, so that no other node needs the file)."""
    if not active():
        return value
    holder = [value if rank() == src else None]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def average_buffers_(module: torch.nn.Module) -> None:
    """Floating buffers (BatchNorm's running statistics) averaged over the ranks, so that the
    replicas also agree in evaluation mode and in a checkpoint."""
    average_(b for b in module.buffers() if b.is_floating_point())


class ShardedSampler(Sampler[int]):
    """Rank r's share of another sampler's indices: ``order[r::world]``, padded by wrapping
    round so every rank gets the same count (as ``DistributedSampler``). The base sampler (a
    seeded ``RandomSampler``) yields the same order on every rank, so the shards are disjoint
    and together are exactly the rows of the split; sharding never crosses splits."""

    def __init__(self, base: Sampler[int], rank: int, world_size: int) -> None:
        self.base = base
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return math.ceil(len(self.base) / self.world_size)

    def __iter__(self) -> Iterator[int]:
        order = list(self.base)  # drawn here, lazily, as the loader it replaces would draw it
        if not order:
            return
        per_rank = math.ceil(len(order) / self.world_size)
        padded = (order * (per_rank * self.world_size // len(order) + 1))[
            : per_rank * self.world_size
        ]
        yield from padded[self.rank :: self.world_size]


def shard_loader(loader: DataLoader) -> DataLoader:
    """``loader`` with this rank's shard of its rows (itself without a process group).

    Same dataset, batch size (per rank: the global batch is ``world_size`` times it), collate
    function and generator: reseeding ``loader.generator`` reseeds the shard's order too."""
    if not active() or isinstance(loader.sampler, ShardedSampler):
        return loader
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=ShardedSampler(loader.sampler, rank(), world_size()),
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        drop_last=loader.drop_last,
        generator=loader.generator,
    )


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` under a process group (itself otherwise)."""
    if not active():
        return model
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[index])
    return torch.nn.parallel.DistributedDataParallel(model)

"""Candidate operations of the RNAS-MER cell, and the wiring blocks shared by the supernet and
the network derived from it.

Every operation maps ``channels`` to a module that keeps the shape of a [B, C, T, H, W] tensor
(stride 1, "same" padding, any T/H/W including odd ones), so any operation fits on any edge of a
cell. Convolutions are ReLU-Conv-BN as in DARTS; ``affine`` is False in the supernet (there the
architecture weights scale the outputs) and True in the derived network.

Resolution levels: level ``s`` holds ``channels * 2**s`` channels and has been reduced ``s``
times after the stem. Each reduction is a 3x3x3 convolution with stride 2 and padding 1, so a
dimension of size n becomes ceil(n / 2): sizes never drop below 1 (a dimension of size 1 stays
1), which is how long clips and tiny inputs share one network.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Triple = tuple[int, int, int]


class OperationFactory(Protocol):
    def __call__(self, channels: int, affine: bool = True) -> nn.Module: ...


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv3d ("same" padding for stride 1) -> BatchNorm3d."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: Triple,
        *,
        stride: Triple = (1, 1, 1),
        dilation: int = 1,
        affine: bool = True,
    ) -> None:
        padding = tuple(dilation * (k - 1) // 2 for k in kernel)
        super().__init__(
            nn.ReLU(),
            nn.Conv3d(c_in, c_out, kernel, stride, padding, dilation=dilation, bias=False),
            nn.BatchNorm3d(c_out, affine=affine),
        )


class Conv2Plus1d(nn.Sequential):
    """Factorised (2+1)D convolution: spatial 1xkxk, then temporal kx1x1, then BN."""

    def __init__(self, channels: int, kernel: int = 3, affine: bool = True) -> None:
        pad = kernel // 2
        super().__init__(
            nn.ReLU(),
            nn.Conv3d(channels, channels, (1, kernel, kernel), padding=(0, pad, pad), bias=False),
            nn.Conv3d(channels, channels, (kernel, 1, 1), padding=(pad, 0, 0), bias=False),
            nn.BatchNorm3d(channels, affine=affine),
        )


class SepConv(nn.Sequential):
    """Depthwise-separable 3D convolution: depthwise kxkxk, pointwise 1x1x1, BN (one stack)."""

    def __init__(self, channels: int, kernel: int = 3, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv3d(channels, channels, kernel, padding=kernel // 2, groups=channels, bias=False),
            nn.Conv3d(channels, channels, 1, bias=False),
            nn.BatchNorm3d(channels, affine=affine),
        )


class AvgPool3d(nn.Module):
    """Average over a kxkxk window, stride 1, not counting the padding.

    Pads explicitly because ``nn.AvgPool3d`` rejects inputs smaller than its kernel (e.g. a
    time axis of 2) even when the padding would make them large enough.
    """

    def __init__(self, kernel: int = 3) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: Tensor) -> Tensor:
        pad = self.kernel // 2
        total = F.avg_pool3d(F.pad(x, (pad,) * 6), self.kernel, stride=1) * self.kernel**3
        counts = [
            (
                torch.clamp(torch.arange(n, device=x.device) + pad, max=n - 1)
                - torch.clamp(torch.arange(n, device=x.device) - pad, min=0)
                + 1
            ).to(x.dtype)
            for n in x.shape[2:]
        ]
        return total / (counts[0][:, None, None] * counts[1][None, :, None] * counts[2])


def box_average(x: Tensor, kernel: int = 3) -> Tensor:
    """``AvgPool3d(kernel)(x)`` as box sums along each axis by shifted slices, over the box
    sums of ones (the count of cells inside the clip): the same function, 3-3.5x faster than
    ``avg_pool3d`` on the derived networks' 4-8 channels, in either layout (one thread)."""
    pad = kernel // 2

    def box_sum(y: Tensor) -> Tensor:
        y = F.pad(y, (pad,) * 6)
        for dim in (4, 3, 2):
            n = y.shape[dim] - 2 * pad
            y = sum(y.narrow(dim, shift, n) for shift in range(kernel))
        return y

    return box_sum(x) / box_sum(torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device))


def separable_max_pool(x: Tensor) -> Tensor:
    """3x3x3 max pooling (stride 1, padding 1) as a 1x3x3 then a 3x1x1 one. The maximum is
    separable: the same values, and each gradient goes to the same element (the first maximum
    in frame, row, column order), 1.3-1.5x faster than ``max_pool3d`` on 4-8 channels."""
    return F.max_pool3d(F.max_pool3d(x, (1, 3, 3), 1, (0, 1, 1)), (3, 1, 1), 1, (1, 0, 0))


class FastAvgPool3d(AvgPool3d):
    """``AvgPool3d`` computed by ``box_average``."""

    def forward(self, x: Tensor) -> Tensor:
        return box_average(x, self.kernel)


class FastMaxPool3d(nn.MaxPool3d):
    """``nn.MaxPool3d(3, 1, 1)`` computed by ``separable_max_pool``."""

    def __init__(self) -> None:
        super().__init__(3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return separable_max_pool(x)


def fast_pool(pool: nn.Module, x: Tensor) -> Tensor:
    """``pool(x)`` for a pooling operation of ``OPERATIONS``, by the faster construction of the
    same function (``FAST_OPERATIONS``) where there is one."""
    if isinstance(pool, nn.MaxPool3d) and (
        pool.kernel_size,
        pool.stride,
        pool.padding,
        pool.dilation,
    ) == (3, 1, 1, 1):
        return separable_max_pool(x)
    if isinstance(pool, AvgPool3d):
        return box_average(x, pool.kernel)
    return pool(x)


class Zero(nn.Module):
    """The "none" operation: no connection (zeros of the input's shape)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


OPERATIONS: dict[str, OperationFactory] = {
    "none": lambda c, affine=True: Zero(),
    "skip_connect": lambda c, affine=True: nn.Identity(),
    "avg_pool_3x3x3": lambda c, affine=True: AvgPool3d(3),
    "max_pool_3x3x3": lambda c, affine=True: nn.MaxPool3d(3, 1, 1),
    "conv_1x1x1": lambda c, affine=True: ReLUConvBN(c, c, (1, 1, 1), affine=affine),
    "conv_3x3x3": lambda c, affine=True: ReLUConvBN(c, c, (3, 3, 3), affine=affine),
    "conv_5x5x5": lambda c, affine=True: ReLUConvBN(c, c, (5, 5, 5), affine=affine),
    "conv_2plus1d_3": lambda c, affine=True: Conv2Plus1d(c, 3, affine=affine),
    "spatial_conv_1x3x3": lambda c, affine=True: ReLUConvBN(c, c, (1, 3, 3), affine=affine),
    "temporal_conv_3x1x1": lambda c, affine=True: ReLUConvBN(c, c, (3, 1, 1), affine=affine),
    "dil_conv_3x3x3": lambda c, affine=True: ReLUConvBN(c, c, (3, 3, 3), dilation=2, affine=affine),
    "sep_conv_3x3x3": lambda c, affine=True: SepConv(c, 3, affine=affine),
}

#: The same operations with the pooling computed faster (the same function): what the derived
#: network is built from. ``OPERATIONS`` stays the straightforward construction, which the
#: reference supernet is (``fast_pool`` speeds up the fast supernet's pooling).
FAST_OPERATIONS: dict[str, OperationFactory] = {
    **OPERATIONS,
    "avg_pool_3x3x3": lambda c, affine=True: FastAvgPool3d(3),
    "max_pool_3x3x3": lambda c, affine=True: FastMaxPool3d(),
}

#: Seed 000's hybrid spatiotemporal set.
HYBRID_OPERATIONS: tuple[str, ...] = tuple(OPERATIONS)

#: Plain 3D set (ablation "no hybrid operations", Auto-DeepLab-3D-like baseline): no factorised,
#: spatial-only, temporal-only or 1x1x1 convolutions.
PLAIN_3D_OPERATIONS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "avg_pool_3x3x3",
    "max_pool_3x3x3",
    "conv_3x3x3",
    "conv_5x5x5",
    "dil_conv_3x3x3",
    "sep_conv_3x3x3",
)

OPERATION_SETS: dict[str, tuple[str, ...]] = {
    "hybrid": HYBRID_OPERATIONS,
    "plain_3d": PLAIN_3D_OPERATIONS,
}


def level_channels(channels: int, level: int) -> int:
    """Channels of every state at resolution ``level``."""
    return channels * 2**level


class Stem(nn.Sequential):
    """Conv3d 3x3x3 (padding 1, the given stride) + BN: level 0 of the network. A dimension of
    size n becomes ceil(n / stride), never below 1."""

    def __init__(self, in_channels: int, channels: int, stride: Triple) -> None:
        super().__init__(
            nn.Conv3d(in_channels, channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm3d(channels),
        )


class DownSample(ReLUConvBN):
    """One level down: ReLU-Conv3d(3x3x3, stride 2, padding 1)-BN, channels c_in -> c_out."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__(c_in, c_out, (3, 3, 3), stride=(2, 2, 2), affine=affine)


def downsample_chain(channels: int, from_level: int, to_level: int, affine: bool) -> nn.Module:
    """Bring a state from ``from_level`` down to ``to_level`` (identity when equal)."""
    if to_level < from_level:
        raise ValueError(f"cannot go up from level {from_level} to {to_level}")
    if to_level == from_level:
        return nn.Identity()
    return nn.Sequential(
        *(
            DownSample(level_channels(channels, s), level_channels(channels, s + 1), affine)
            for s in range(from_level, to_level)
        )
    )


def cell_projection(c_in: int, c_out: int, affine: bool) -> nn.Sequential:
    """Concatenated node states -> the level's channels (Conv3d 1x1x1 + BN)."""
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, 1, bias=False), nn.BatchNorm3d(c_out, affine=affine)
    )


def path_error(path: list[int], levels: int) -> str | None:
    """Why ``path`` (one level per layer) is not a valid network path, or None.

    The stem is at level 0; each layer stays at its predecessor's level or goes one level down.
    """
    if not path:
        return "must hold one level per layer (at least one layer)"
    previous = 0
    for layer, level in enumerate(path):
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < levels:
            return f"layer {layer}: level {level!r} is not in 0..{levels - 1}"
        if level - previous not in (0, 1):
            return f"layer {layer}: level {previous} -> {level} is neither 'same' nor 'down'"
        previous = level
    return None

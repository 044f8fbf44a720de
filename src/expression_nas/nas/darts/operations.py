"""The eight DARTS candidate operations on 2-D feature maps, and the blocks around them.

Every convolution is made by a ``ConvFactory`` so that the same operations serve the plain
DARTS supernet (``nn.Conv2d``), the DARTS-STN supernet (``nas.stn.StnConv2d``) and the derived
network. Batch norm is affine in the derived network only (``affine=False`` during the search,
as in DARTS, so that the architecture weights alone scale each operation).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

#: The DARTS operation set, in DARTS' order.
PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

#: (in_channels, out_channels, kernel, stride, padding, dilation, groups) -> a conv module
ConvFactory = Callable[[int, int, int, int, int, int, int], nn.Module]


def bias_free(conv_class: type[nn.Conv2d]) -> ConvFactory:
    """The ``ConvFactory`` of bias-free ``conv_class`` modules (``nn.Conv2d`` or a subclass)."""

    def build(
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int,
        padding: int,
        dilation: int,
        groups: int,
    ) -> nn.Module:
        return conv_class(
            in_channels, out_channels, kernel, stride, padding, dilation, groups, bias=False
        )

    return build


plain_conv = bias_free(nn.Conv2d)


class ReLUConvBN(nn.Sequential):
    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        affine: bool,
        conv: ConvFactory = plain_conv,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            conv(c_in, c_out, kernel, stride, padding, 1, 1),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise (dilated) conv, pointwise conv, BN."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool,
        conv: ConvFactory = plain_conv,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            conv(c_in, c_in, kernel, stride, padding, dilation, c_in),
            conv(c_in, c_out, 1, 1, 0, 1, 1),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convolutions (DARTS' sep_conv)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        affine: bool,
        conv: ConvFactory = plain_conv,
    ) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine, conv),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine, conv),
        )


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two stride-2 1x1 convs on offset grids, concatenated."""

    def __init__(self, c_in: int, c_out: int, affine: bool, conv: ConvFactory = plain_conv):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_even = conv(c_in, c_out // 2, 1, 2, 0, 1, 1)
        self.conv_odd = conv(c_in, c_out // 2, 1, 2, 0, 1, 1)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_even(x), self.conv_odd(shifted)], dim=1))


def build_operation(
    name: str, channels: int, stride: int, affine: bool, conv: ConvFactory = plain_conv
) -> nn.Module:
    """The DARTS operation ``name`` from ``channels`` to ``channels`` at ``stride`` (1 or 2)."""
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine, conv)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        kernel = int(name[-1])
        return SepConv(channels, channels, kernel, stride, kernel // 2, affine, conv)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        kernel = int(name[-1])
        return DilConv(channels, channels, kernel, stride, kernel - 1, 2, affine, conv)
    raise ValueError(f"unknown DARTS operation {name!r}; known: {list(PRIMITIVES)}")


def cell_edges(nodes: int) -> list[tuple[int, int]]:
    """(node, source) of every edge of a cell: node j (0-based intermediate node) reads the two
    cell inputs (sources 0, 1) and every earlier intermediate node (sources 2..j+1)."""
    return [(node, source) for node in range(nodes) for source in range(node + 2)]


def reduction_layers(layers: int) -> tuple[int, ...]:
    """DARTS places the reduction cells at 1/3 and 2/3 of the depth."""
    return tuple(sorted({layers // 3, 2 * layers // 3})) if layers >= 3 else ()

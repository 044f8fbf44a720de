"""The mixed edge of the DARTS supernet: sum_o softmax(alpha)_o * o(x) over the candidate
operations (eq. 15), in two constructions that compute the same function.

``ReferenceMixedOp`` is the straightforward one (quark0/darts): every operation runs on its own,
from its own ReLU, and keeps its own activations for the backward pass.

``MixedOp`` holds the very same modules (same parameters, same initialisation, same state-dict
keys, so either loads the other's weights) and evaluates them in less time and memory:

- one ReLU of the edge input, shared by every operation that starts with one (the separable
  and dilated convolutions, and the factorized reduction of a stride-2 skip);
- no work for ``none``: its output is zero, and alpha still sees it through the softmax;
- every operation but the identity ends in a non-affine batch norm; its architecture weight
  is applied as that norm's affine scale (``nas.mixed_edge.scaled_norm``: ``w * BN(z)`` in one
  kernel), so that neither the product nor the norm's output is kept for the backward pass,
  and the norms' backward kernels give the gradient of alpha;
- the depthwise convolutions go through ``fast_conv.conv2d`` (oneDNN's fast kernels); on a
  stride-2 edge, the even-even phase of the input that the dilated convolutions and the
  factorized reduction read is taken once;
- the ReLU between the two halves of a separable convolution and the running sum are
  in place (nothing the backward pass needs is overwritten);
- ``recompute=True`` (``memory: lean``) keeps only the edge's input for the backward pass and
  recomputes the edge there (``nas.mixed_edge.RecomputedEdge``); batch-norm running statistics
  are updated in the first pass only, so they are the same as without recomputation.

The supernet runs both in channels-last layout, where oneDNN's depthwise convolutions, pooling
and 1x1 convolutions are several times faster on the CPU than in the default layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from expression_nas.nas.darts.fast_conv import conv2d
from expression_nas.nas.darts.operations import (
    ConvFactory,
    DilConv,
    FactorizedReduce,
    SepConv,
    build_operation,
)
from expression_nas.nas.mixed_edge import Norm, RecomputedEdge
from expression_nas.nas.stn import StnConv2d


def _search_operations(
    channels: int, stride: int, operations: tuple[str, ...], conv: ConvFactory
) -> nn.ModuleList:
    """The candidate operations of one edge (pooling followed by a non-affine batch norm)."""
    ops = nn.ModuleList()
    for name in operations:
        op = build_operation(name, channels, stride, affine=False, conv=conv)
        if "pool" in name:
            op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
        ops.append(op)
    return ops


class ReferenceMixedOp(nn.Module):
    """sum_o softmax(alpha)_o * o(x), every operation on its own (the reference construction)."""

    def __init__(
        self, channels: int, stride: int, operations: tuple[str, ...], conv: ConvFactory
    ) -> None:
        super().__init__()
        self.ops = _search_operations(channels, stride, operations, conv)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))


class MixedOp(RecomputedEdge):
    """The same function as ``ReferenceMixedOp``, in less time and memory (module docstring)."""

    def __init__(
        self,
        channels: int,
        stride: int,
        operations: tuple[str, ...],
        conv: ConvFactory,
        recompute: bool = False,
    ) -> None:
        super().__init__()
        self.ops = _search_operations(channels, stride, operations, conv)
        self.names = operations
        self.stride = stride
        self.recompute = recompute
        # the STN layers' hyper-parameters, which the recomputation must see again
        self.context = next((m.context for m in self.modules() if isinstance(m, StnConv2d)), None)

    def _mix(self, x: Tensor, weights: Tensor, norm: Norm) -> Tensor:
        activation = self._input_activation()
        edge = _EdgeInput(x, activation(x) if activation is not None else x, self.stride)
        out: Tensor | None = None
        for i, (name, op) in enumerate(zip(self.names, self.ops, strict=True)):
            if name == "none":
                continue
            y = _operation(op, edge, weights[i], norm)
            out = y if out is None else out.add_(y)  # out is fresh and saved by nothing
        if out is None:  # only "none": the zero of the output's shape
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        return out

    def _input_activation(self) -> nn.Module | None:
        """The ReLU the edge's operations start with (looked up on every call, so that a
        replaced activation module, e.g. by a smooth one in a test, is the one shared)."""
        for op in self.ops:
            if isinstance(op, SepConv):
                return op[0][0]
            if isinstance(op, DilConv):
                return op[0]
            if isinstance(op, FactorizedReduce):
                return op.relu
        return None


class _ChannelsLastGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad.contiguous(memory_format=torch.channels_last)


def channels_last_grad(x: Tensor) -> Tensor:
    """``x``, with its gradient made channels-last. A concatenation's backward pass hands out
    channel slices, and a mean's an expanded tensor: neither is contiguous in any layout, and
    every kernel of the backward pass that received them would run on strides (or copy)."""
    return _ChannelsLastGrad.apply(x) if x.dim() == 4 else x


class _EdgeInput:
    """The edge input ``x``, its activation, and (at stride 2) the activation's phases, each
    taken once."""

    def __init__(self, x: Tensor, relu: Tensor, stride: int) -> None:
        self.x, self.relu, self.stride = x, relu, stride
        self._even: Tensor | None = None

    def even(self) -> Tensor:
        """The even-even phase of the activation (what a stride-2 1x1 or "same" dilation-2
        convolution reads)."""
        if self._even is None:
            self._even = self.relu[:, :, ::2, ::2].contiguous(memory_format=_layout(self.relu))
        return self._even


def _layout(x: Tensor) -> torch.memory_format:
    if x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _operation(op: nn.Module, edge: _EdgeInput, scale: Tensor, norm: Norm) -> Tensor:
    """``scale * op(edge.x)``."""
    if isinstance(op, SepConv):
        first, second = op
        y = _dil_conv_body(first, edge.relu, norm, None)
        # in place: the batch norm that made y does not need its output for the backward pass
        activation = second[0]
        y = F.relu(y, inplace=True) if isinstance(activation, nn.ReLU) else activation(y)
        return _dil_conv_body(second, y, norm, scale)
    if isinstance(op, DilConv):
        _, depthwise, _, _ = op
        if edge.stride == 2 and _plain(depthwise).dilation == (2, 2):
            return _dil_conv_body(op, edge.even(), norm, scale, phase=True)
        return _dil_conv_body(op, edge.relu, norm, scale)
    if isinstance(op, FactorizedReduce):
        odd = F.pad(edge.relu[:, :, 1::2, 1::2], _odd_phase_padding(edge.relu))
        halves = [_conv(op.conv_even, edge.even(), stride=1), _conv(op.conv_odd, odd, stride=1)]
        return norm(op.bn, torch.cat(halves, dim=1), scale)
    if isinstance(op, nn.Sequential):  # pooling, then batch norm
        pool, bn = op
        return norm(bn, pool(edge.x), scale)
    return scale * op(edge.x)  # skip connection (identity)


def _odd_phase_padding(x: Tensor) -> tuple[int, int, int, int]:
    """FactorizedReduce's odd grid has ceil(n / 2) points per dimension; the last is padding
    when n is odd."""
    return (0, x.shape[3] % 2, 0, x.shape[2] % 2)


def _dil_conv_body(
    op: DilConv, relu: Tensor, norm: Norm, scale: Tensor | None, phase: bool = False
) -> Tensor:
    """``scale * op`` after its ReLU: depthwise conv, pointwise conv, batch norm. With
    ``phase``, ``relu`` is the even-even phase of the input of a stride-2 dilation-2 conv, which
    is then an undilated stride-1 one."""
    _, depthwise, pointwise, bn = op
    settings = {"stride": 1, "dilation": 1, "padding": _plain(depthwise).kernel_size[0] // 2}
    return norm(bn, pointwise(_conv(depthwise, relu, **(settings if phase else {}))), scale)


def _plain(module: nn.Module) -> nn.Conv2d:
    """The ``nn.Conv2d`` with the settings of a conv module (an STN layer's elementary one)."""
    return module.elementary if isinstance(module, StnConv2d) else module


def _conv(module: nn.Module, x: Tensor, **overrides: int) -> Tensor:
    """``module(x)`` for an ``nn.Conv2d`` or ``StnConv2d`` by ``fast_conv.conv2d``, with
    ``overrides`` of its stride, padding or dilation."""
    if isinstance(module, StnConv2d):
        return module(x, conv2d=_with(overrides))
    settings = {
        "stride": module.stride,
        "padding": module.padding,
        "dilation": module.dilation,
        **overrides,
    }
    return conv2d(x, module.weight, module.bias, groups=module.groups, **settings)


def _with(overrides: dict[str, int]) -> Callable[..., Tensor]:
    if not overrides:
        return conv2d

    def convolve(
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
        groups: int,
    ) -> Tensor:
        settings = {"stride": stride, "padding": padding, "dilation": dilation, **overrides}
        return conv2d(x, weight, bias, groups=groups, **settings)

    return convolve

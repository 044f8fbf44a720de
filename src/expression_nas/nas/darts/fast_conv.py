"""``conv2d``: ``F.conv2d`` with the depthwise "same" convolutions of the DARTS operations routed
to oneDNN's fast kernels.

On the CPU, oneDNN runs the forward pass of every depthwise convolution in a fast kernel, but
the backward pass of a dilated or strided one in a generic kernel up to 20-100x slower. Two
identities avoid those kernels (same taps, same sums, up to float rounding):

- the input gradient of a stride-1 depthwise convolution with "same" padding is the forward
  convolution of the output gradient with the spatially flipped kernel (``_DepthwiseSame``,
  for all but 3x3 undilated kernels, whose backward oneDNN has fast; the weight gradient
  stays oneDNN's);
- a dilation-2 convolution at stride 2 with padding d * (k - 1) / 2 (k odd) reads only the
  even-even phase of its input: it is the undilated stride-1 convolution of that phase.

Everything else goes to ``F.conv2d`` unchanged. Works in either memory layout (channels-last is
the fast one) and stays differentiable twice (the backward pass is made of differentiable ops).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from expression_nas.nas.darts.operations import bias_free


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


class _DepthwiseSame(torch.autograd.Function):
    """Depthwise conv, stride 1, padding dilation * (k - 1) / 2, no bias."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, dilation: tuple[int, int]) -> Tensor:
        padding = _same_padding(weight, dilation)
        ctx.save_for_backward(x, weight)
        ctx.settings = (padding, dilation)
        return F.conv2d(x, weight, None, 1, padding, dilation, weight.shape[0])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, weight = ctx.saved_tensors
        padding, dilation = ctx.settings
        grad = grad.contiguous(memory_format=_layout(x))
        channels = weight.shape[0]
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = _DepthwiseSame.apply(grad, weight.flip(-1, -2), dilation)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                None,
                [1, 1],
                list(padding),
                list(dilation),
                False,
                [0, 0],
                channels,
                [False, True, False],
            )[1]
        return grad_x, grad_weight, None


def _same_padding(weight: Tensor, dilation: tuple[int, int]) -> tuple[int, int]:
    return (dilation[0] * (weight.shape[-2] - 1) // 2, dilation[1] * (weight.shape[-1] - 1) // 2)


def _layout(x: Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, dilation, groups)``, see the module."""
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    kernel = weight.shape[-2:]
    depthwise_same = (
        x.dim() == 4
        and groups == x.shape[1] == weight.shape[0]
        and weight.shape[1] == 1
        and kernel[0] % 2 == 1
        and kernel[1] % 2 == 1
        and padding == _same_padding(weight, dilation)
    )
    if not depthwise_same:
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    if stride == (2, 2) and dilation == (2, 2):
        x, stride, dilation = x[:, :, ::2, ::2], (1, 1), (1, 1)
    if stride != (1, 1) or (dilation == (1, 1) and kernel == (3, 3)):  # oneDNN's are fast
        return F.conv2d(x, weight, bias, stride, _same_padding(weight, dilation), dilation, groups)
    out = _DepthwiseSame.apply(x, weight, dilation)
    return out if bias is None else out + bias[:, None, None]


class FastConv2d(nn.Conv2d):
    """``nn.Conv2d`` with zero padding (same parameters, same state-dict keys) computed by
    ``conv2d``: a derived network's dilated and 5x5 depthwise convolutions train several times
    faster on the CPU."""

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


#: A ``ConvFactory`` (``nas.darts.operations``) of bias-free ``FastConv2d`` modules.
fast_conv = bias_free(FastConv2d)

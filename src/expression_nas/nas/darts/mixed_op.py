"""The mixed edge of the DARTS supernet: sum_o softmax(alpha)_o * o(x) over the candidate
operations (eq. 15), in two constructions that compute the same function.

``ReferenceMixedOp`` is the straightforward one (quark0/darts): every operation runs on its own,
from its own ReLU, and keeps its own activations for the backward pass.

``MixedOp`` holds the very same modules (same parameters, same initialisation, same state-dict
keys, so either loads the other's weights) and evaluates them in less time and memory:

- one ReLU of the edge input, shared by every operation that starts with one (the separable
  and dilated convolutions, and the factorized reduction of a stride-2 skip);
- no work for ``none``: its output is zero, and alpha still sees it through the softmax;
- the ReLU between the two halves of a separable convolution is applied in place (the batch
  norm before it does not need its output for the backward pass);
- the weighted sum accumulates with ``addcmul`` (one pass per operation, no temporaries);
- ``recompute=True`` (``memory: lean``) keeps only the edge's input for the backward pass and
  recomputes the edge there (``torch.utils.checkpoint``); batch-norm running statistics are
  updated in the first pass only, so they are the same as without recomputation.

The supernet runs both in channels-last layout, where oneDNN's depthwise convolutions, pooling
and 1x1 convolutions are several times faster on the CPU than in the default layout.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from expression_nas.nas.darts.fast_conv import conv2d
from expression_nas.nas.darts.operations import (
    ConvFactory,
    DilConv,
    FactorizedReduce,
    SepConv,
    build_operation,
)
from expression_nas.nas.stn import StnConv2d

#: How a batch-norm module is applied: ``(module, input) -> output``.
Norm = Callable[[nn.BatchNorm2d, Tensor], Tensor]


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


def _norm(bn: nn.BatchNorm2d, x: Tensor) -> Tensor:
    return bn(x)


def _norm_no_update(bn: nn.BatchNorm2d, x: Tensor) -> Tensor:
    """``bn(x)`` without touching its running statistics (the recomputation pass)."""
    if not bn.training:
        return bn(x)
    # copies of the statistics, so that the pass saves the same tensors as the first one
    running_mean, running_var = bn.running_mean.clone(), bn.running_var.clone()
    return F.batch_norm(x, running_mean, running_var, bn.weight, bn.bias, True, 0.0, bn.eps)


class MixedOp(nn.Module):
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

    def forward(self, x: Tensor, weights: Tensor, norm: Norm | None = None) -> Tensor:
        if norm is not None:  # the recomputation pass, below
            return self._mix(x, weights, norm)
        if not (self.recompute and torch.is_grad_enabled()):
            return self._mix(x, weights, _norm)
        # What the recomputation in the backward pass must see again: the parameters (which a
        # functional_call may have swapped in for the forward pass only) and the hyper-
        # parameters of the STN layers (which the supernet sets for its forward pass only).
        parameters = dict(self.named_parameters())
        context = self.context
        hyper = context.value if context is not None else None
        first_pass = [True]

        def run(x: Tensor, weights: Tensor) -> Tensor:
            if first_pass[0]:
                first_pass[0] = False
                return self._mix(x, weights, _norm)
            outside = None
            if context is not None:
                outside, context.value = context.value, hyper
            try:
                if all(p is parameters[name] for name, p in self.named_parameters()):
                    return self._mix(x, weights, _norm_no_update)
                return functional_call(self, parameters, (x, weights), {"norm": _norm_no_update})
            finally:
                if context is not None:
                    context.value = outside

        return checkpoint(run, x, weights, use_reentrant=False)

    def _mix(self, x: Tensor, weights: Tensor, norm: Norm) -> Tensor:
        activation = self._input_activation()
        relu = activation(x) if activation is not None else x
        out: Tensor | None = None
        for i, (name, op) in enumerate(zip(self.names, self.ops, strict=True)):
            if name == "none":
                continue
            y = _operation(op, x, relu, norm)
            out = weights[i] * y if out is None else torch.addcmul(out, weights[i], y)
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


def _operation(op: nn.Module, x: Tensor, relu: Tensor, norm: Norm) -> Tensor:
    """``op(x)``, given ``relu``, the activation of ``x`` it starts with (if it does)."""
    if isinstance(op, SepConv):
        first, second = op
        y = _dil_conv_body(first, relu, norm)
        # in place: the batch norm that made y does not need its output for the backward pass
        activation = second[0]
        y = F.relu(y, inplace=True) if isinstance(activation, nn.ReLU) else activation(y)
        return _dil_conv_body(second, y, norm)
    if isinstance(op, DilConv):
        return _dil_conv_body(op, relu, norm)
    if isinstance(op, FactorizedReduce):
        shifted = F.pad(relu[:, :, 1:, 1:], (0, 1, 0, 1))
        return norm(op.bn, torch.cat([op.conv_even(relu), op.conv_odd(shifted)], dim=1))
    if isinstance(op, nn.Sequential):  # pooling, then batch norm
        pool, bn = op
        return norm(bn, pool(x))
    return op(x)  # skip connection (identity)


def _dil_conv_body(op: DilConv, relu: Tensor, norm: Norm) -> Tensor:
    """A DilConv after its ReLU: depthwise conv, pointwise conv, batch norm."""
    _, depthwise, pointwise, bn = op
    return norm(bn, pointwise(_depthwise(depthwise, relu)))


def _depthwise(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` for a depthwise ``nn.Conv2d`` or ``StnConv2d``, by ``fast_conv.conv2d``."""
    if isinstance(module, StnConv2d):
        return module(x, conv2d=conv2d)
    settings = (module.stride, module.padding, module.dilation, module.groups)
    return conv2d(x, module.weight, module.bias, *settings)

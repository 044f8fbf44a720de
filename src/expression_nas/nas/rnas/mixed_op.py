"""The mixed edge of the RNAS-MER supernet: softmax(alpha)-weighted sum of the operations on
1/k of the channels (PC-DARTS), in two constructions that compute the same function.

``ReferenceMixedOp`` is the straightforward one: every operation runs on its own, from its own
ReLU, in the default layout; with ``recompute`` the edge is recomputed in the backward pass and
its batch-norm running statistics are then updated twice per step.

``MixedOp`` holds the very same modules (same parameters, same initialisation, same state-dict
keys) and evaluates them in less time and memory (the supernet's cells go further and compute
all the edges that leave one state together: ``nas.rnas.edge_groups``):

- one ReLU of the active channels, shared by every convolution (all of them start with one);
- the convolutions in channels-last-3d layout, where oneDNN's 3-D kernels run about three times
  faster on these few channels; their outputs go back to the default layout for the batch
  norms, which are several times faster there at 2-8 channels;
- the architecture weight as the affine scale of the batch norm every operation but the
  identity ends with (``nas.mixed_edge.scaled_norm``), and the sum in place;
- 3x3x3 max pooling as a 3x3 spatial then a 3-frame temporal one (the maximum is separable:
  the same values, the gradient routed to the same elements), about twice as fast as
  ``max_pool3d``;
- with ``recompute``, running statistics updated once per step, as without recomputation
  (``nas.mixed_edge.RecomputedEdge``).

"none" is not computed in either: its output is zero, and alpha still sees it through the
softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from expression_nas.nas.mixed_edge import Norm, RecomputedEdge
from expression_nas.nas.rnas.operations import OPERATIONS, Conv2Plus1d, ReLUConvBN, SepConv


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    batch, channels = x.shape[:2]
    x = x.view(batch, groups, channels // groups, *x.shape[2:]).transpose(1, 2)
    return x.reshape(batch, channels, *x.shape[3:])


def _edge_operations(active: int, op_names: tuple[str, ...]) -> tuple[list[int], nn.ModuleList]:
    """The columns of alpha that are computed (all but "none") and their operations."""
    columns = [i for i, name in enumerate(op_names) if name != "none"]
    ops = nn.ModuleList()
    for i in columns:
        op = OPERATIONS[op_names[i]](active, affine=False)
        if "pool" in op_names[i]:
            op = nn.Sequential(op, nn.BatchNorm3d(active, affine=False))
        ops.append(op)
    return columns, ops


class ReferenceMixedOp(nn.Module):
    """softmax(alpha_edge)-weighted sum of the operations on 1/k of the channels (PC-DARTS)."""

    def __init__(self, channels: int, op_names: tuple[str, ...], k: int, recompute: bool):
        super().__init__()
        self.k, self.recompute = k, recompute
        self.active = channels // k
        self.columns, self.ops = _edge_operations(self.active, op_names)

    def _mix(self, x: Tensor, weights: Tensor) -> Tensor:
        active = x[:, : self.active] if self.k > 1 else x
        out = sum(weights[i] * op(active) for i, op in zip(self.columns, self.ops, strict=True))
        if self.k == 1:
            return out
        return channel_shuffle(torch.cat([out, x[:, self.active :]], dim=1), self.k)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        if self.recompute and torch.is_grad_enabled():
            return checkpoint(self._mix, x, weights, use_reentrant=False)
        return self._mix(x, weights)


class MixedOp(RecomputedEdge):
    """The same function as ``ReferenceMixedOp``, in less time and memory (module docstring)."""

    def __init__(self, channels: int, op_names: tuple[str, ...], k: int, recompute: bool):
        super().__init__()
        self.k, self.recompute = k, recompute
        self.active = channels // k
        self.columns, self.ops = _edge_operations(self.active, op_names)

    def _mix(self, x: Tensor, weights: Tensor, norm: Norm) -> Tensor:
        active = x[:, : self.active] if self.k > 1 else x
        relu: Tensor | None = None
        out: Tensor | None = None
        for i, op in zip(self.columns, self.ops, strict=True):
            if isinstance(op, ReLUConvBN | Conv2Plus1d | SepConv):
                if relu is None:
                    relu = op[0](active).contiguous(memory_format=torch.channels_last_3d)
                y = relu
                for conv in list(op)[1:-1]:
                    y = conv(y)
                y = norm(op[-1], y.contiguous(), weights[i])
            elif isinstance(op, nn.Sequential):  # pooling, then batch norm
                pool, bn = op
                y = norm(
                    bn,
                    _max_pool(pool, active) if isinstance(pool, nn.MaxPool3d) else pool(active),
                    weights[i],
                )
            else:  # skip connection (identity)
                y = weights[i] * op(active)
            out = y if out is None else out.add_(y)  # out is fresh and saved by nothing
        if self.k == 1:
            return out
        return channel_shuffle(torch.cat([out, x[:, self.active :]], dim=1), self.k)


def _max_pool(pool: nn.MaxPool3d, x: Tensor) -> Tensor:
    """``pool(x)`` for the 3x3x3, stride 1, padding 1 pooling: spatial, then temporal."""
    if (pool.kernel_size, pool.stride, pool.padding, pool.dilation) != (3, 1, 1, 1):
        return pool(x)
    batch, channels, frames, height, width = x.shape
    y = F.max_pool2d(x.reshape(batch * channels, frames, height, width), 3, 1, 1)
    y = F.max_pool2d(y.view(batch, channels, frames, height * width), (3, 1), 1, (1, 0))
    return y.view(batch, channels, frames, height, width)

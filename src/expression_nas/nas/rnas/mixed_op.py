"""The mixed edge of the RNAS-MER supernet: softmax(alpha)-weighted sum of the operations on
1/k of the channels (PC-DARTS), in two constructions that compute the same function.

``ReferenceMixedOp`` is the straightforward one: every operation runs on its own, from its own
ReLU, in the default layout; with ``recompute`` the edge is recomputed in the backward pass and
its batch-norm running statistics are then updated twice per step.

``MixedOp`` holds the very same modules (same parameters, same initialisation, same state-dict
keys) for the supernet's fast cells, which compute all the edges that leave one state together
in less time and memory (``nas.rnas.edge_groups``). Per edge they differ from the reference in:

- one ReLU of the active channels, shared by every convolution (all of them start with one);
- the convolutions in channels-last-3d layout, where oneDNN's 3-D kernels run about three times
  faster on these few channels; their outputs go back to the default layout for the batch
  norms, which are several times faster there at 2-8 channels;
- the architecture weight as the affine scale of the batch norm every operation but the
  identity ends with, and the sums in place;
- the pooling by the faster construction of the same function (``operations.fast_pool``:
  separable max pooling, box sums by shifted slices for the average);
- with ``recompute``, running statistics updated once per step, as without recomputation.

"none" is not computed in either: its output is zero, and alpha still sees it through the
softmax.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from expression_nas.nas.rnas.operations import OPERATIONS


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


class MixedOp(nn.Module):
    """The modules of ``ReferenceMixedOp``, computed by the cells of ``nas.rnas.edge_groups``
    (module docstring)."""

    def __init__(self, channels: int, op_names: tuple[str, ...], k: int, recompute: bool):
        super().__init__()
        self.k, self.recompute = k, recompute
        self.active = channels // k
        self.columns, self.ops = _edge_operations(self.active, op_names)

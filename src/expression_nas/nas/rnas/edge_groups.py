"""The fast RNAS cell: all the mixed edges that leave one state, computed together.

Under PC-DARTS every edge that leaves a state reads the same active channels of it, so the
edges of one source share much of their work (the same function as computing each
``mixed_op.ReferenceMixedOp`` on its own, up to float rounding):

- one ReLU of the active channels for all the convolutions of all the edges, in
  channels-last-3d layout;
- per operation, the edges' convolutions as one convolution with their weights stacked
  (grouped where each edge has its own input: the second half of a (2+1)D or separable
  convolution), which uses oneDNN's kernels far better than 2 to 8 output channels do, and
  one batch norm over the stacked channels, with the edges' running statistics and their
  architecture weights as its affine scale;
- the pooling of the active channels, and its non-affine batch norm, once for all edges: they
  have no parameters, and the edges' running statistics are equal (they are always updated
  with the same batch), so the normalised pooling is the same for every edge; only the
  architecture weight differs;
- per node, the edges' mixtures and their bypassed channels summed before one concatenation
  and channel shuffle, instead of one per edge (the shuffle is a permutation: the same sums).

With ``checkpoint_edges`` each source's group is recomputed in the backward pass, the running
statistics updated in the first pass only (as without recomputation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from expression_nas.nas.rnas.mixed_op import MixedOp, channel_shuffle
from expression_nas.nas.rnas.operations import Conv2Plus1d, ReLUConvBN, SepConv, fast_pool

CHANNELS_LAST = torch.channels_last_3d


def cell_nodes(
    edges: list[tuple[int, int]],
    mixed: nn.ModuleList,
    states: list[Tensor | None],
    alpha_probs: Tensor,
    nodes: int,
) -> list[Tensor]:
    """The cell's node states, from its two (preprocessed) inputs ``states``."""
    states = list(states)
    first: MixedOp = mixed[0]
    k, active = first.k, first.active
    mix_sums: list[Tensor | None] = [None] * nodes
    bypass_sums: list[Tensor | None] = [None] * nodes
    for source in range(nodes + 2):
        if source >= 2:  # every edge into node source - 2 comes from an earlier source
            node = mix_sums[source - 2]
            if k > 1:
                node = channel_shuffle(torch.cat([node, bypass_sums[source - 2]], dim=1), k)
            states.append(node)
        x = states[source]
        ids = [e for e, (_, origin) in enumerate(edges) if origin == source]
        if x is None or not ids:
            continue
        mixes = _source_group(x, [mixed[e] for e in ids], alpha_probs[ids])
        bypass = x[:, active:] if k > 1 else None
        for e, mix in zip(ids, mixes, strict=True):
            node_index = edges[e][0]
            previous = mix_sums[node_index]
            mix_sums[node_index] = mix if previous is None else previous + mix
            if bypass is not None:
                previous = bypass_sums[node_index]
                bypass_sums[node_index] = bypass if previous is None else previous + bypass
    return states[2:]


def _source_group(x: Tensor, edges: list[MixedOp], weights: Tensor) -> list[Tensor]:
    """The mixture of every edge in ``edges`` (all leaving ``x``), weights [edges, ops]."""
    if not (edges[0].recompute and torch.is_grad_enabled()):
        return _mixtures(x, edges, weights, update=True)
    parameters = [p for edge in edges for p in edge.parameters()]
    first_pass = [True]

    def run(x: Tensor, weights: Tensor) -> tuple[Tensor, ...]:
        if first_pass[0]:
            first_pass[0] = False
            return tuple(_mixtures(x, edges, weights, update=True))
        now = [p for edge in edges for p in edge.parameters()]
        if any(a is not b for a, b in zip(now, parameters, strict=True)):
            raise RuntimeError(
                "the RNAS cell recomputes its edges with the module's own parameters, which "
                "changed since the forward pass (a functional_call?); set checkpoint_edges=False"
            )
        return tuple(_mixtures(x, edges, weights, update=False))

    return list(checkpoint(run, x, weights, use_reentrant=False))


def _mixtures(x: Tensor, edges: list[MixedOp], weights: Tensor, update: bool) -> list[Tensor]:
    first = edges[0]
    active = x[:, : first.active] if first.k > 1 else x
    relu: Tensor | None = None
    mixes: list[Tensor | None] = [None] * len(edges)
    for position, column in enumerate(first.columns):
        ops = [edge.ops[position] for edge in edges]
        scales = weights[:, column]
        op = ops[0]
        if isinstance(op, ReLUConvBN | Conv2Plus1d | SepConv):
            if relu is None:
                relu = op[0](active).contiguous(memory_format=CHANNELS_LAST)
            stacked = _stacked_convolutions(ops, relu).contiguous()
            norms = [o[-1] for o in ops]
            parts = _stacked_norm(norms, stacked, scales, update).split(first.active, dim=1)
        elif isinstance(op, nn.Sequential):  # pooling, then batch norm: no parameters
            pooled = fast_pool(op[0], active)
            parts = _shared_norm([o[1] for o in ops], pooled, scales, update)
        else:  # skip connection (identity)
            parts = [scale * active for scale in scales]
        for e, part in enumerate(parts):
            mixes[e] = part if mixes[e] is None else mixes[e] + part
    return mixes


def _stacked_convolutions(ops: list[nn.Sequential], relu: Tensor) -> Tensor:
    """Every op's convolutions (all but its ReLU and batch norm) on ``relu``, the edges'
    outputs stacked along the channels: [B, edges * C, T, H, W]."""
    edges = len(ops)
    first, *rest = list(ops[0])[1:-1]
    weight = torch.cat([op[1].weight for op in ops])
    if first.groups == 1:
        y = F.conv3d(relu, weight, None, first.stride, first.padding, first.dilation)
    else:  # depthwise: each edge convolves its own copy of the input
        groups = first.groups * edges
        y = F.conv3d(
            relu.repeat(1, edges, 1, 1, 1),
            weight,
            None,
            first.stride,
            first.padding,
            first.dilation,
            groups,
        )
    for index, conv in enumerate(rest, start=2):  # each edge on its own part: grouped
        weight = torch.cat([op[index].weight for op in ops])
        y = F.conv3d(y, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups * edges)
    return y


def _momentum(norms: list[_BatchNorm]) -> float:
    bn = norms[0]
    if bn.momentum is None:  # cumulative average
        return 1.0 / float(bn.num_batches_tracked + 1)
    return bn.momentum


def _stacked_norm(norms: list[_BatchNorm], x: Tensor, scales: Tensor, update: bool) -> Tensor:
    """``scale_e * norm_e(x_e)`` for the edges' parts x_e of ``x`` (stacked channels), as one
    batch norm over the edges' running statistics (copied back when ``update``)."""
    channels = x.shape[1] // len(norms)
    weight = scales.repeat_interleave(channels)
    bn = norms[0]
    running_mean = torch.cat([n.running_mean for n in norms])
    running_var = torch.cat([n.running_var for n in norms])
    if not bn.training:
        return F.batch_norm(x, running_mean, running_var, weight, None, False, 0.0, bn.eps)
    momentum = _momentum(norms)
    out = F.batch_norm(x, running_mean, running_var, weight, None, True, momentum, bn.eps)
    if update:
        for index, norm in enumerate(norms):
            part = slice(index * channels, (index + 1) * channels)
            norm.running_mean.copy_(running_mean[part])
            norm.running_var.copy_(running_var[part])
            norm.num_batches_tracked.add_(1)
    return out


def _shared_norm(norms: list[_BatchNorm], x: Tensor, scales: Tensor, update: bool) -> list[Tensor]:
    """``scale_e * norm_e(x)`` for every edge e, the norm computed once when the edges'
    running statistics are equal (as they always are when updated together)."""
    bn = norms[0]
    same = all(
        torch.equal(n.running_mean, bn.running_mean)
        and torch.equal(n.running_var, bn.running_var)
        and int(n.num_batches_tracked) == int(bn.num_batches_tracked)
        for n in norms[1:]
    )
    if not same:
        return [scale * _norm(n, x, update) for n, scale in zip(norms, scales, strict=True)]
    normalised = _norm(bn, x, update)
    if update and bn.training:
        for n in norms[1:]:
            n.running_mean.copy_(bn.running_mean)
            n.running_var.copy_(bn.running_var)
            n.num_batches_tracked.copy_(bn.num_batches_tracked)
    return [scale * normalised for scale in scales]


def _norm(bn: _BatchNorm, x: Tensor, update: bool) -> Tensor:
    """``bn(x)``, its running statistics updated only if ``update``."""
    if not bn.training:
        return F.batch_norm(x, bn.running_mean, bn.running_var, None, None, False, 0.0, bn.eps)
    if not update:
        mean, var = bn.running_mean.clone(), bn.running_var.clone()
        return F.batch_norm(x, mean, var, None, None, True, 0.0, bn.eps)
    momentum = _momentum([bn])
    bn.num_batches_tracked.add_(1)
    return F.batch_norm(x, bn.running_mean, bn.running_var, None, None, True, momentum, bn.eps)

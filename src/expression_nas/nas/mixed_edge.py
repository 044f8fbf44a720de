"""The two devices of the fast DARTS mixed edge (``nas.darts.mixed_op``; the RNAS cells of
``nas.rnas.edge_groups`` apply both to stacked groups of edges): the architecture weight of
an operation applied as the affine scale of the batch norm it ends with, and the recomputation
of an edge in the backward pass.

``scaled_norm(bn, x, w)`` is ``w * bn(x)`` as one batch-norm kernel, with ``nn.BatchNorm``'s
semantics for the running statistics: the product and the norm's output need not be kept for
the backward pass, and the norm's backward kernel gives the gradient of ``w``.

``RecomputedEdge`` computes ``_mix(x, weights, norm)`` and, with ``recompute``, keeps only its
inputs for the backward pass, which runs it again (``torch.utils.checkpoint``). The second pass
does not update the running statistics (``norm`` is ``recomputed_norm``), so they are the same
as without recomputation; it sees the parameters of the first pass (a ``functional_call`` may
have swapped them in for the forward pass only) and the hyper-parameters of the STN layers
(which the supernet sets for its forward pass only).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from expression_nas.nas.stn import HyperContext

#: ``(norm module, input, scale or None) -> scale * norm(input)``.
Norm = Callable[[_BatchNorm, Tensor, Tensor | None], Tensor]


def _scaled_norm(bn: _BatchNorm, x: Tensor, scale: Tensor | None, update: bool) -> Tensor:
    weight, bias = bn.weight, bn.bias
    if scale is not None:
        scale = scale.expand(x.shape[1]).contiguous()  # the kernels assume a dense weight
        weight = scale if weight is None else weight * scale
        bias = None if bias is None else bias * scale
    if not (bn.training and bn.track_running_stats):
        batch_statistics = bn.training or bn.running_mean is None
        return F.batch_norm(
            x, bn.running_mean, bn.running_var, weight, bias, batch_statistics, 0.0, bn.eps
        )
    if not update:  # copies, so that the pass saves the same tensors as the first one
        running_mean, running_var = bn.running_mean.clone(), bn.running_var.clone()
        return F.batch_norm(x, running_mean, running_var, weight, bias, True, 0.0, bn.eps)
    bn.num_batches_tracked.add_(1)
    momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return F.batch_norm(x, bn.running_mean, bn.running_var, weight, bias, True, momentum, bn.eps)


def scaled_norm(bn: _BatchNorm, x: Tensor, scale: Tensor | None) -> Tensor:
    """``scale * bn(x)`` (``bn(x)`` when ``scale`` is None), see the module docstring."""
    return _scaled_norm(bn, x, scale, update=True)


def recomputed_norm(bn: _BatchNorm, x: Tensor, scale: Tensor | None) -> Tensor:
    """``scaled_norm`` without updating the running statistics (the recomputation pass)."""
    return _scaled_norm(bn, x, scale, update=False)


class RecomputedEdge(nn.Module):
    """A mixed edge ``_mix(x, weights, norm)``, recomputed in the backward pass when
    ``self.recompute`` (module docstring). Subclasses set ``recompute`` and, for STN layers,
    ``context``, and implement ``_mix``."""

    recompute: bool = False
    context: HyperContext | None = None

    def _mix(self, x: Tensor, weights: Tensor, norm: Norm) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, weights: Tensor, norm: Norm | None = None) -> Tensor:
        if norm is not None:  # the recomputation pass, below
            return self._mix(x, weights, norm)
        if not (self.recompute and torch.is_grad_enabled()):
            return self._mix(x, weights, scaled_norm)
        parameters = dict(self.named_parameters())
        context = self.context
        hyper = context.value if context is not None else None
        first_pass = [True]

        def run(x: Tensor, weights: Tensor) -> Tensor:
            if first_pass[0]:
                first_pass[0] = False
                return self._mix(x, weights, scaled_norm)
            outside = None
            if context is not None:
                outside, context.value = context.value, hyper
            try:
                if all(p is parameters[name] for name, p in self.named_parameters()):
                    return self._mix(x, weights, recomputed_norm)
                return functional_call(self, parameters, (x, weights), {"norm": recomputed_norm})
            finally:
                if context is not None:
                    context.value = outside

        return checkpoint(run, x, weights, use_reentrant=False)

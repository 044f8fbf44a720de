"""Bilevel (differentiable) architecture search steps, shared by the gradient-based strategies.

A searchable model exposes ``arch_parameters()`` (alpha, beta, eta, ...) and
``weight_parameters()`` (everything else). Weights descend the training loss; architecture
parameters descend the validation loss, either first-order (gradient at the current weights)
or second-order (DARTS' one-step unrolled approximation, with the Hessian-vector product taken
by central finite differences at epsilon = 0.01 / ||grad||).

Under ``torchrun`` each rank holds its shard of the batches: the gradients the unrolled step
is built from are averaged over the ranks (``distributed.average_``), so that it is the step
of the whole batch, and the strategy's optimiser averages the architecture gradient before
it steps (``distributed.average_gradients_before_step``). Ranks agree on skipping a step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from expression_nas import distributed

Loss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    return nn.functional.cross_entropy(model(inputs), targets)


def first_order_arch_step(
    model: nn.Module,
    arch_optimizer: torch.optim.Optimizer,
    val_batch: tuple[torch.Tensor, torch.Tensor],
    loss_fn: Loss = cross_entropy_loss,
) -> float:
    """One architecture step on the validation batch at the current weights (skipped, and the
    non-finite loss returned, when the loss is not finite)."""
    arch_optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model, *val_batch)
    if not distributed.all_agree(bool(torch.isfinite(loss))):  # on some rank: all skip
        return float(loss.detach()) if not torch.isfinite(loss) else float("nan")
    loss.backward()
    _clear_weight_grads(model)
    arch_optimizer.step()
    return float(loss.detach())


def second_order_arch_step(
    model: nn.Module,
    arch_optimizer: torch.optim.Optimizer,
    train_batch: tuple[torch.Tensor, torch.Tensor],
    val_batch: tuple[torch.Tensor, torch.Tensor],
    xi: float,
    weight_decay: float = 0.0,
    loss_fn: Loss = cross_entropy_loss,
) -> float:
    """One architecture step with the unrolled gradient

    dL_val(w - xi * dL_train(w, a)/dw, a)/da
      ~= dL_val(w', a)/da - xi * [dL_train(w+, a)/da - dL_train(w-, a)/da] / (2 eps),

    w' = w - xi * (dL_train/dw + weight_decay * w), w+- = w +- eps * dL_val(w', a)/dw',
    eps = 0.01 / ||dL_val(w', a)/dw'||. The virtual step is plain SGD (no momentum). A
    non-finite validation loss skips the step and is returned as it is.
    """
    unrolled = _virtual_step(model, train_batch, xi, weight_decay, loss_fn)
    val_loss = loss_fn(unrolled, *val_batch)
    if not distributed.all_agree(bool(torch.isfinite(val_loss))):  # on some rank: all skip
        return float(val_loss.detach()) if not torch.isfinite(val_loss) else float("nan")
    arch, weights = unrolled.arch_parameters(), unrolled.weight_parameters()
    grads = torch.autograd.grad(val_loss, [*arch, *weights], allow_unused=True)  # one pass
    arch_grads_unrolled = grads[: len(arch)]
    weight_grads = [
        torch.zeros_like(p) if g is None else g
        for g, p in zip(grads[len(arch) :], weights, strict=True)
    ]
    distributed.average_(weight_grads)  # the whole batch's dL_val/dw': one eps on every rank
    hessian_terms = finite_difference_hvp(model, weight_grads, train_batch, loss_fn)
    arch_optimizer.zero_grad(set_to_none=True)
    for parameter, direct, implicit in zip(
        model.arch_parameters(), arch_grads_unrolled, hessian_terms, strict=True
    ):
        parameter.grad = (torch.zeros_like(parameter) if direct is None else direct) - xi * implicit
    arch_optimizer.step()
    return float(val_loss.detach())


def finite_difference_hvp(
    model: nn.Module,
    vector: list[torch.Tensor],
    batch: tuple[torch.Tensor, torch.Tensor],
    loss_fn: Loss = cross_entropy_loss,
) -> list[torch.Tensor]:
    """(d^2 L / da dw) @ vector by central differences of dL/da at w +- eps * vector, with
    eps = 0.01 / ||vector||. The weights are restored exactly afterwards."""
    norm = torch.sqrt(sum((v.detach() ** 2).sum() for v in vector))
    eps = 0.01 / float(norm.clamp_min(1e-12))
    weights = list(model.weight_parameters())
    originals = [weight.detach().clone() for weight in weights]
    gradients = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for weight, original, v in zip(weights, originals, vector, strict=True):
                weight.copy_(original + sign * eps * v)
        loss = loss_fn(model, *batch)
        grads = torch.autograd.grad(loss, model.arch_parameters(), allow_unused=True)
        gradients.append(
            [
                torch.zeros_like(p) if g is None else g
                for g, p in zip(grads, model.arch_parameters(), strict=True)
            ]
        )
    with torch.no_grad():
        for weight, original in zip(weights, originals, strict=True):
            weight.copy_(original)
    return [(plus - minus) / (2 * eps) for plus, minus in zip(*gradients, strict=True)]


def _virtual_step(
    model: nn.Module,
    train_batch: tuple[torch.Tensor, torch.Tensor],
    xi: float,
    weight_decay: float,
    loss_fn: Loss,
) -> nn.Module:
    """A copy of ``model`` after one plain SGD step of its weights on ``train_batch``."""
    loss = loss_fn(model, *train_batch)
    grads = [
        torch.zeros_like(weight) if grad is None else grad
        for grad, weight in zip(
            torch.autograd.grad(loss, model.weight_parameters(), allow_unused=True),
            model.weight_parameters(),
            strict=True,
        )
    ]
    distributed.average_(grads)  # the step of the whole batch
    unrolled = copy.deepcopy(model)
    with torch.no_grad():
        for weight, grad, original in zip(
            unrolled.weight_parameters(), grads, model.weight_parameters(), strict=True
        ):
            step = grad + weight_decay * original
            weight.copy_(original - xi * step)
    return unrolled


def _clear_weight_grads(model: nn.Module) -> None:
    for weight in model.weight_parameters():
        weight.grad = None

"""The check the equivalence tests of the fast supernets share: one training step of the
reference and the fast construction on the same batch gives the same logits, gradients and
batch-norm statistics; then both take the same plain gradient step."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _step(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(3)  # the same dropout masks, where a supernet has dropout
    net.zero_grad(set_to_none=True)
    logits = net(x)
    F.cross_entropy(logits, y).backward()
    return logits.detach()


def assert_same_step(
    reference: nn.Module, fast: nn.Module, x: torch.Tensor, y: torch.Tensor, tolerance: float
) -> None:
    """Logits and statistics to ``tolerance`` (relative and absolute), every gradient to
    ``tolerance`` times its largest entry."""
    expected, logits = _step(reference, x, y), _step(fast, x, y)
    torch.testing.assert_close(logits, expected, rtol=tolerance, atol=tolerance)
    fast_parameters = dict(fast.named_parameters())
    for name, parameter in reference.named_parameters():
        scale = float(parameter.grad.abs().max())
        torch.testing.assert_close(
            fast_parameters[name].grad, parameter.grad, rtol=0, atol=tolerance * scale, msg=name
        )
    # running statistics updated once per forward pass, also when the edges recompute
    fast_state = fast.state_dict()
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(fast_state[name], value, rtol=tolerance, atol=tolerance)
    with torch.no_grad():
        for net in (reference, fast):
            for parameter in net.parameters():
                parameter.sub_(0.1 * parameter.grad)

"""The smallest supernet the search loop accepts, for the tests of the loop (in one process
and under torchrun); no BatchNorm."""

from __future__ import annotations

import torch
from torch import nn


class TinySupernet(nn.Module):
    """Two candidate operations mixed by softmax(alpha): enough to exercise the search loop.
    ``hyper`` in place of alpha and ``hyper_vector`` make it a model for the STN strategy too."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(2))
        self.linear = nn.Linear(6, 3)
        self.square = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor, hyper: torch.Tensor | None = None, dropout: bool = True):
        weights = torch.softmax(self.alpha if hyper is None else hyper, 0)
        return weights[0] * self.linear(x) + weights[1] * self.square(x**2)

    def hyper_vector(self) -> torch.Tensor:
        return self.alpha

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def arch_snapshot(self) -> dict:
        return {"alpha": torch.softmax(self.alpha, 0).tolist()}

    def derive(self) -> dict:
        return {"family": "tiny", "op": ["linear", "square"][int(self.alpha.argmax())]}

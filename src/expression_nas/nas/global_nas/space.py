"""Seed 004's global macro-micro search space: depth, width (the first layers' channels, doubled
at each of the two stride-2 reductions) and a per-layer (operation, kernel) choice; the
networks themselves are ``models.global_net``'s.

X = {(D, W, O, K) | D in [D_min, D_max], W in {W_min + n W_res}, O in {sep, conv}, K in {3, 5}}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from expression_nas.models.global_net import (
    KERNELS,
    OPERATIONS,
    count_global_parameters,
    global_spec,
)

#: The macro search's operation: every layer a separable 3x3 convolution.
MACRO_LAYER = ("sep", 3)


@dataclass(frozen=True)
class GlobalSpace:
    """Bounds of the space (the seed's tiny setting: depth 10-100, width 16-64 by 2)."""

    min_depth: int
    max_depth: int
    min_width: int
    max_width: int
    width_step: int
    in_channels: int = 1
    num_classes: int = 7

    def __post_init__(self) -> None:
        if not 1 <= self.min_depth <= self.max_depth:
            raise ValueError(
                f"need 1 <= min_depth <= max_depth, got {self.min_depth}, {self.max_depth}"
            )
        if not 1 <= self.min_width <= self.max_width or self.width_step < 1:
            raise ValueError("need 1 <= min_width <= max_width and width_step >= 1")
        if (self.max_width - self.min_width) % self.width_step:
            raise ValueError(
                f"max_width - min_width ({self.max_width} - {self.min_width}) must be a multiple "
                f"of width_step ({self.width_step}), so that pruning from max_width stays on "
                "the grid min_width + n * width_step"
            )

    @property
    def widths(self) -> tuple[int, ...]:
        """The width grid W_min, W_min + W_res, ..., W_max."""
        return tuple(range(self.min_width, self.max_width + 1, self.width_step))

    def spec(self, width: int, layers: Sequence[Sequence[Any]]) -> dict[str, Any]:
        """The "global" spec of ``width`` and ``layers`` for this space's input and classes."""
        return global_spec(self.in_channels, self.num_classes, width, layers)

    def macro_spec(self, width: int, depth: int) -> dict[str, Any]:
        """A network of the macro search: ``depth`` separable 3x3 layers."""
        return self.spec(width, [MACRO_LAYER] * depth)


def random_spec(space: GlobalSpace, rng: np.random.Generator) -> dict[str, Any]:
    """An architecture drawn uniformly from the space: depth, width, and each layer's operation
    and kernel independently."""
    depth = int(rng.integers(space.min_depth, space.max_depth + 1))
    width = int(rng.choice(space.widths))
    layers = [
        (OPERATIONS[int(rng.integers(len(OPERATIONS)))], KERNELS[int(rng.integers(len(KERNELS)))])
        for _ in range(depth)
    ]
    return space.spec(width, layers)


def width_within_bound(
    space: GlobalSpace, width: int, layers: Sequence[Sequence[Any]], bound: int
) -> int:
    """The largest width from ``width`` down (in steps of one channel, the seed's "C--") at
    which ``layers`` has at most ``bound`` parameters; 1 when none does."""
    while width > 1 and count_global_parameters(space.spec(width, layers)) > bound:
        width -= 1
    return width

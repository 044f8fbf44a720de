"""Search spaces of named, bounded dimensions and their Latin-hypercube start.

Seed 001 (section 2.3) moves the regularisation coefficients (about 1e-5) onto the scale of the
dropout ratios with log() before the Latin-hypercube sampling, and its optimizers (eq. 12-13)
work on that same log scale. So every optimizer here works in *search coordinates*: log10 of the
value for a log dimension, the value itself otherwise. ``SearchSpace`` converts between values
and search coordinates; nothing else needs to know which dimension is logarithmic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc


@dataclass(frozen=True)
class Dimension:
    """One hyper-parameter in [low, high]; ``log`` searches it on a log10 scale (needs low > 0)."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"dimension {self.name!r}: low {self.low} must be below {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"dimension {self.name!r}: a log dimension needs low > 0")

    @property
    def search_bounds(self) -> tuple[float, float]:
        if self.log:
            return math.log10(self.low), math.log10(self.high)
        return float(self.low), float(self.high)


@dataclass(frozen=True)
class SearchSpace:
    """An ordered tuple of dimensions with unique names; vectors follow that order."""

    dimensions: tuple[Dimension, ...]

    def __post_init__(self) -> None:
        if not self.dimensions:
            raise ValueError("a search space needs at least one dimension")
        names = [dimension.name for dimension in self.dimensions]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"dimension names must be unique; repeated: {repeated}")

    def __len__(self) -> int:
        return len(self.dimensions)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dimension.name for dimension in self.dimensions)

    @property
    def bounds(self) -> np.ndarray:
        """Array [d, 2] of (lower, upper) limits in search coordinates."""
        return np.array([dimension.search_bounds for dimension in self.dimensions])

    def to_search(self, values: Mapping[str, float]) -> np.ndarray:
        """The search-coordinate vector of ``values``, which must name exactly these dimensions."""
        missing = [name for name in self.names if name not in values]
        unknown = sorted(set(values) - set(self.names))
        if missing or unknown:
            raise ValueError(f"values do not match the space: missing {missing}, unknown {unknown}")
        vector = []
        for dimension in self.dimensions:
            value = float(values[dimension.name])
            if dimension.log and value <= 0:
                raise ValueError(f"{dimension.name!r} is searched on a log scale; got {value}")
            vector.append(math.log10(value) if dimension.log else value)
        return np.array(vector)

    def from_search(self, vector: Sequence[float] | np.ndarray) -> dict[str, float]:
        """The values of one search-coordinate vector, by name (plain floats, JSON-ready)."""
        vector = np.asarray(vector, dtype=float)
        if vector.shape != (len(self),):
            raise ValueError(f"expected a vector of {len(self)} coordinates, got {vector.shape}")
        values = {}
        for dimension, coordinate in zip(self.dimensions, vector, strict=True):
            if dimension.log:
                # 10 ** log10(high) may round one ulp past high: keep the value inside its range
                value = min(max(10.0**coordinate, dimension.low), dimension.high)
            else:
                value = coordinate
            values[dimension.name] = float(value)
        return values

    def clip(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors ([d] or [n, d], search coordinates) clipped to the bounds."""
        bounds = self.bounds
        return np.clip(np.asarray(vectors, dtype=float), bounds[:, 0], bounds[:, 1])

    def subspace(self, names: Iterable[str]) -> SearchSpace:
        """The space of the named dimensions, in the order given."""
        by_name = {dimension.name: dimension for dimension in self.dimensions}
        names = list(names)
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise ValueError(f"unknown dimensions {unknown}; the space has {list(self.names)}")
        return SearchSpace(tuple(by_name[name] for name in names))


def latin_hypercube(space: SearchSpace, n: int, seed: int) -> np.ndarray:
    """``n`` Latin-hypercube points in search coordinates, array [n, d]: one point in each of
    the ``n`` equal strata of every dimension's search interval (log-uniform for log ones)."""
    unit = qmc.LatinHypercube(d=len(space), rng=seed).random(n)
    bounds = space.bounds
    return qmc.scale(unit, bounds[:, 0], bounds[:, 1])

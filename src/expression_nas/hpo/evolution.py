"""Population optimizers with an ask/tell interface: DE/rand/1/bin, global-best PSO and random
search, all MAXIMISING the score.

In seed 001's Algorithm 1 the objective moves between rounds (the surrogate network is retrained
every round), so the caller owns every evaluation: ``ask()`` hands out the vectors to score and
``tell(scores)`` takes one score per vector back. Vectors are in search coordinates
(``hpo.space``) inside ``bounds``, an array [d, 2] of (lower, upper) limits.

``ask`` is idempotent: the vectors to score are fixed when the constructor or the previous
``tell`` returns, and ``ask`` returns a copy of them however often it is called. Every random
draw happens there too, so ``state_dict()`` taken between two tells holds all there is, and an
optimizer restored with ``load_state_dict`` continues exactly as one that never stopped.

Scores must be finite: give a failed evaluation a finite low score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np

BoundsLike = np.ndarray | Sequence[Sequence[float]]
OptimizerName = Literal["de", "pso", "random"]


class Best(NamedTuple):
    """The best vector ever scored and its score (ties go to the later one, as eq. 13's >=)."""

    vector: np.ndarray
    score: float


def check_bounds(bounds: BoundsLike) -> np.ndarray:
    bounds = np.array(bounds, dtype=float)
    if bounds.ndim != 2 or bounds.shape[1] != 2 or not np.all(bounds[:, 0] < bounds[:, 1]):
        raise ValueError(f"bounds must be an array [d, 2] with lower < upper, got {bounds}")
    return bounds


def check_population(population: np.ndarray, bounds: np.ndarray, minimum: int) -> np.ndarray:
    population = np.array(population, dtype=float)
    if population.ndim != 2 or population.shape[1] != len(bounds):
        raise ValueError(f"expected a population [N, {len(bounds)}], got {population.shape}")
    if len(population) < minimum:
        raise ValueError(f"this optimizer needs at least {minimum} individuals")
    if np.any(population < bounds[:, 0]) or np.any(population > bounds[:, 1]):
        raise ValueError("the initial population must lie inside the bounds")
    return population


def last_argmax(scores: np.ndarray) -> int:
    """Index of the last maximum, so that a sequential >= comparison would keep it."""
    return len(scores) - 1 - int(np.argmax(scores[::-1]))


def keep_better(
    kept: np.ndarray | None,
    kept_scores: np.ndarray | None,
    candidates: np.ndarray,
    scores: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Row by row, the candidate where its score >= the kept one's (the >= of eq. 12 and 13),
    else the kept row; with nothing kept yet (first tell), every candidate."""
    if kept is None or kept_scores is None:
        return candidates.copy(), scores.copy()
    replace = scores >= kept_scores
    return np.where(replace[:, None], candidates, kept), np.where(replace, scores, kept_scores)


def draw_donors(rng: np.random.Generator, size: int) -> np.ndarray:
    """r1, r2, r3 for each of ``size`` individuals, [size, 3]: mutually different and never i,
    each ordered triple equally likely (the three smallest of random keys, i's key excluded)."""
    keys = rng.random((size, size))
    np.fill_diagonal(keys, np.inf)
    return np.argsort(keys, axis=1)[:, :3]


def rand1_bin_trials(
    parents: np.ndarray,
    donors: np.ndarray,
    rd: np.ndarray,
    rn: np.ndarray,
    mutation: float,
    crossover: float,
    bounds: np.ndarray,
) -> np.ndarray:
    """DE/rand/1/bin trial vectors U (eq. 12) from given draws.

    ``donors`` [N, 3] holds r1, r2, r3 per individual, ``rd`` [N, d] the crossover draws in
    [0, 1), ``rn`` [N] the coordinate always taken from the mutant. V_i = X_r1 + F (X_r2 - X_r3);
    U_ij = V_ij if rd_ij <= CR or j = rn_i, else X_ij; U is then clipped to the bounds.
    """
    mutants = parents[donors[:, 0]] + mutation * (parents[donors[:, 1]] - parents[donors[:, 2]])
    take = rd <= crossover
    take[np.arange(len(parents)), rn] = True
    return np.clip(np.where(take, mutants, parents), bounds[:, 0], bounds[:, 1])


def pso_step(
    positions: np.ndarray,
    velocities: np.ndarray,
    personal_best: np.ndarray,
    global_best: np.ndarray,
    rd1: np.ndarray,
    rd2: np.ndarray,
    settings: tuple[float, float, float],
    bounds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One global-best PSO move (eq. 13) from given draws ``rd1``, ``rd2`` [N, d] in [0, 1).

    ``settings`` is (w, c1, c2). V <- w V + c1 rd1 (XP - X) + c2 rd2 (X_gb - X); X <- X + V,
    clipped to the bounds; a velocity component whose move was clipped is set to zero, so a
    particle stops at the wall instead of pushing on through it in the next moves.
    """
    inertia, cognitive, social = settings
    velocities = (
        inertia * velocities
        + cognitive * rd1 * (personal_best - positions)
        + social * rd2 * (global_best - positions)
    )
    moved = positions + velocities
    clipped = np.clip(moved, bounds[:, 0], bounds[:, 1])
    return clipped, np.where(clipped == moved, velocities, 0.0)


class PopulationOptimizer:
    """What the three optimizers share: ask/tell bookkeeping, the best so far, checkpoints.

    A subclass names its settings (``settings``) and the arrays of its own state
    (``state_fields``, attributes that may be None before the first tell), and implements
    ``_advance``, which turns the scored vectors into the next ones to ask.
    """

    kind: ClassVar[str]
    state_fields: ClassVar[tuple[str, ...]] = ()
    minimum_population: ClassVar[int] = 1

    def __init__(
        self,
        bounds: BoundsLike,
        initial_population: np.ndarray,
        seed: int | np.random.Generator,
        settings: dict[str, float],
    ) -> None:
        self.bounds = check_bounds(bounds)
        self._pending = check_population(initial_population, self.bounds, self.minimum_population)
        self._rng = np.random.default_rng(seed)
        self.settings = settings
        self.generation = 0
        self._best_vector: np.ndarray | None = None
        self._best_score: float | None = None

    @property
    def population_size(self) -> int:
        return len(self._pending)

    @property
    def n_evaluations(self) -> int:
        return self.generation * self.population_size

    @property
    def best(self) -> Best | None:
        """The best vector ever scored and its score; None before the first tell."""
        if self._best_vector is None or self._best_score is None:
            return None
        return Best(self._best_vector.copy(), self._best_score)

    def ask(self) -> np.ndarray:
        """The vectors to score next, [N, d] (a copy; the same until the next tell)."""
        return self._pending.copy()

    def tell(self, scores: Sequence[float] | np.ndarray) -> None:
        """Takes one finite score per asked vector (in ask's order) and prepares the next ones."""
        scores = np.asarray(scores, dtype=float)
        if scores.shape != (self.population_size,):
            raise ValueError(
                f"expected {self.population_size} scores, one per asked vector, got shape "
                f"{scores.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(scores))
        if bad.size:
            raise ValueError(f"scores must be finite; positions {bad.tolist()} are not")
        evaluated = self._pending
        index = last_argmax(scores)
        if self._best_score is None or scores[index] >= self._best_score:
            self._best_vector, self._best_score = evaluated[index].copy(), float(scores[index])
        self._pending = self._advance(evaluated, scores)
        self.generation += 1

    def _advance(self, evaluated: np.ndarray, scores: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable checkpoint: settings, arrays as lists, the RNG's state."""
        state = {
            "kind": self.kind,
            "settings": dict(self.settings),
            "bounds": self.bounds.tolist(),
            "generation": self.generation,
            "pending": self._pending.tolist(),
            "best_vector": None if self._best_vector is None else self._best_vector.tolist(),
            "best_score": self._best_score,
            "rng": self._rng.bit_generator.state,
        }
        for field in self.state_fields:
            value = getattr(self, f"_{field}")
            state[field] = None if value is None else value.tolist()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a ``state_dict``; refuses one from another kind, settings or bounds."""
        theirs = (state["kind"], state["settings"], state["bounds"])
        if theirs != (self.kind, self.settings, self.bounds.tolist()):
            raise ValueError(
                f"checkpoint of {theirs} does not fit this optimizer "
                f"{(self.kind, self.settings, self.bounds.tolist())}"
            )
        self.generation = int(state["generation"])
        self._pending = np.array(state["pending"], dtype=float)
        self._best_vector = as_array(state["best_vector"])
        self._best_score = state["best_score"]
        self._rng.bit_generator.state = state["rng"]
        for field in self.state_fields:
            setattr(self, f"_{field}", as_array(state[field]))


def as_array(value: list | None) -> np.ndarray | None:
    return None if value is None else np.array(value, dtype=float)


class DifferentialEvolution(PopulationOptimizer):
    """DE/rand/1/bin (seed 001, eq. 12) with greedy selection, defaults F = 0.1, CR = 0.6.

    The first ``ask`` returns the initial population; each later one the N trial vectors U_i:
    mutant V_i = X_r1 + F (X_r2 - X_r3) with r1, r2, r3 mutually different and different from i,
    binomial crossover with CR and one coordinate rn_i always from V_i, then U_i is clipped to
    the bounds (a coordinate past a limit is set to that limit; scipy instead redraws it
    uniformly). ``tell`` keeps U_i in place of X_i when score(U_i) >= score(X_i).

    A parent keeps the score it got when it was evaluated, even if the objective has moved since
    (as in Algorithm 1): re-scoring the parents would double the N evaluations per generation.
    """

    kind = "de"
    state_fields = ("parents", "parent_scores")
    minimum_population = 4

    def __init__(
        self,
        bounds: BoundsLike,
        initial_population: np.ndarray,
        mutation: float = 0.1,
        crossover: float = 0.6,
        seed: int = 0,
    ) -> None:
        if not (mutation >= 0 and 0 <= crossover <= 1):
            raise ValueError(f"need F >= 0 and CR in [0, 1], got F={mutation}, CR={crossover}")
        super().__init__(
            bounds,
            initial_population,
            seed,
            {"mutation": float(mutation), "crossover": float(crossover)},
        )
        self._parents: np.ndarray | None = None
        self._parent_scores: np.ndarray | None = None

    def _advance(self, evaluated: np.ndarray, scores: np.ndarray) -> np.ndarray:
        self._parents, self._parent_scores = keep_better(
            self._parents, self._parent_scores, evaluated, scores
        )
        size, dims = self._parents.shape
        donors = draw_donors(self._rng, size)
        rd = self._rng.random((size, dims))
        rn = self._rng.integers(dims, size=size)
        return rand1_bin_trials(
            self._parents,
            donors,
            rd,
            rn,
            self.settings["mutation"],
            self.settings["crossover"],
            self.bounds,
        )


class ParticleSwarm(PopulationOptimizer):
    """Global-best PSO (seed 001, eq. 13), defaults w = 0.6, c1 = 0.2, c2 = 0.9.

    ``ask`` returns the current positions; ``tell`` updates the personal bests and the global
    best (a new score >= the old one replaces it), draws rd1, rd2 per coordinate, then moves the
    particles as ``pso_step``: positions clipped to the bounds, a clipped velocity component set
    to zero. Velocities start at zero, so the first move is pulled by the bests alone.
    """

    kind = "pso"
    state_fields = ("velocities", "personal_best", "personal_best_scores")

    def __init__(
        self,
        bounds: BoundsLike,
        initial_population: np.ndarray,
        inertia: float = 0.6,
        cognitive: float = 0.2,
        social: float = 0.9,
        seed: int = 0,
    ) -> None:
        super().__init__(
            bounds,
            initial_population,
            seed,
            {"inertia": float(inertia), "cognitive": float(cognitive), "social": float(social)},
        )
        self._velocities = np.zeros_like(self._pending)
        self._personal_best: np.ndarray | None = None
        self._personal_best_scores: np.ndarray | None = None

    def _advance(self, evaluated: np.ndarray, scores: np.ndarray) -> np.ndarray:
        self._personal_best, self._personal_best_scores = keep_better(
            self._personal_best, self._personal_best_scores, evaluated, scores
        )
        rd1, rd2 = self._rng.random((2, *evaluated.shape))
        settings = (self.settings["inertia"], self.settings["cognitive"], self.settings["social"])
        positions, self._velocities = pso_step(
            evaluated,
            self._velocities,
            self._personal_best,
            self._best_vector,
            rd1,
            rd2,
            settings,
            self.bounds,
        )
        return positions


class RandomSearch(PopulationOptimizer):
    """The baseline: ``population`` fresh points per generation, uniform in search coordinates,
    so it spends the same evaluations as DE and PSO. With ``initial_population`` (e.g. the same
    Latin-hypercube start) the first generation is that population."""

    kind = "random"

    def __init__(
        self,
        bounds: BoundsLike,
        seed: int = 0,
        population: int = 6,
        initial_population: np.ndarray | None = None,
    ) -> None:
        bounds = check_bounds(bounds)
        rng = np.random.default_rng(seed)
        if initial_population is None:
            initial_population = rng.uniform(bounds[:, 0], bounds[:, 1], (population, len(bounds)))
        elif len(initial_population) != population:
            raise ValueError(
                f"population {population} differs from the {len(initial_population)} initial rows"
            )
        super().__init__(bounds, initial_population, rng, {"population": population})

    def _advance(self, evaluated: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return self._rng.uniform(self.bounds[:, 0], self.bounds[:, 1], evaluated.shape)


def make_optimizer(
    name: OptimizerName,
    bounds: BoundsLike,
    initial_population: np.ndarray,
    seed: int = 0,
    **settings: float,
) -> PopulationOptimizer:
    """One optimizer by name, started from ``initial_population``; ``settings`` are the named
    class's keyword settings (mutation, crossover; inertia, cognitive, social; none for random)."""
    if name == "de":
        return DifferentialEvolution(bounds, initial_population, seed=seed, **settings)
    if name == "pso":
        return ParticleSwarm(bounds, initial_population, seed=seed, **settings)
    if name == "random":
        if settings:
            raise TypeError(f"random search takes no settings, got {sorted(settings)}")
        return RandomSearch(bounds, seed, len(initial_population), initial_population)
    raise ValueError(f"unknown optimizer {name!r}; expected 'de', 'pso' or 'random'")


def restore_optimizer(state: dict[str, Any]) -> PopulationOptimizer:
    """An optimizer rebuilt from its ``state_dict`` alone (e.g. a checkpoint file)."""
    settings = {key: value for key, value in state["settings"].items() if key != "population"}
    pending = np.array(state["pending"], dtype=float)
    optimizer = make_optimizer(state["kind"], state["bounds"], pending, **settings)
    optimizer.load_state_dict(state)
    return optimizer

"""Algorithm 1 of seed 004: a greedy macro search (grow the depth, then prune the width) and a
micro search (per layer: a plain convolution, then a 5x5 kernel), each candidate trained from
scratch for a number of epochs that follows its size ("architecture-aware" training).

Scores are validation accuracies in percentage points: a candidate's score is its best
validation accuracy over its epochs. The trainer decides what "validation" is; the
experiments give it data taken from the training side only.

- Start: E = E_min (macro), L = D_min, C = W_max, every layer separable 3x3. The start
  network is the first candidate of the grow phase.
- Grow: L += 1 and E += 1 per candidate. Accepted when its score >= best + ``accept_gain``;
  otherwise the search goes on without a failure when the score >= best - ``grow_tolerance``,
  and counts a failure below that. Stops at ``max_failures`` failures since the last
  acceptance, when L reaches D_max, or when a candidate's training accuracy reaches 100.
  The depth keeps growing from the last candidate; the best accepted network is the result.
- Prune: from the grown network, C -= W_res and E += 2 per candidate (E carries on from the
  grow phase). Accepted when its score >= the best score; otherwise a failure. Stops at
  ``max_failures`` failures in all, or when C reaches W_min.
- Micro: E = E_min (micro); the macro result is retrained for E as the new baseline (a
  retraining, not a new candidate). Then, per layer in order, its operation is set to a
  plain convolution and C is lowered one channel at a time until the network has at most the
  baseline's parameters + ``param_tolerance``; the change is kept only when the score is
  strictly higher than the best. Then the same with a 5x5 kernel per layer.

So the search evaluates D' + W' + 2 D_f candidates (D' grow candidates, the start included,
W' prune candidates, D_f the found depth), plus the one retraining of the micro baseline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from expression_nas.models.global_net import count_global_parameters
from expression_nas.nas.global_nas.space import GlobalSpace, width_within_bound

logger = logging.getLogger(__name__)

GROW, PRUNE, MICRO_BASELINE, MICRO_OPERATION, MICRO_KERNEL = (
    "grow",
    "prune",
    "micro_baseline",
    "micro_operation",
    "micro_kernel",
)
PHASES = (GROW, PRUNE, MICRO_BASELINE, MICRO_OPERATION, MICRO_KERNEL)
#: slack of the score comparisons, so that "at least best + 0.10" holds at exactly 0.10 above
#: whatever the rounding of the two sums
EPSILON = 1e-9


@dataclass(frozen=True)
class EpochSchedule:
    """Epochs per candidate: E_min of the macro search (then +``grow_step`` per grown and
    +``prune_step`` per pruned candidate) and the fixed E of the micro search."""

    macro_epochs: int = 10
    micro_epochs: int = 2
    grow_step: int = 1
    prune_step: int = 2


@dataclass(frozen=True)
class SearchRules:
    """The seed's thresholds (percentage points) and the micro phase's parameter bound."""

    accept_gain: float = 0.10
    grow_tolerance: float = 0.05
    max_failures: int = 3
    param_tolerance: int = 10_000


@dataclass(frozen=True)
class TrainingOutcome:
    """What training one candidate gave: ``score`` its best validation accuracy and
    ``train_accuracy`` its last epoch's training accuracy (percentage points), the seconds
    it took (the original ones when it came from the cache), its per-epoch records."""

    score: float
    train_accuracy: float
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    cached: bool = False


class CandidateTrainer(Protocol):
    """Trains ``spec`` from a fresh initialisation seeded with ``seed`` for ``epochs``."""

    def __call__(self, spec: dict[str, Any], epochs: int, seed: int) -> TrainingOutcome: ...


@dataclass(frozen=True)
class Candidate:
    """One trained candidate and the decision it led to (``accepted``; ``decision`` says
    which rule applied); ``failures`` the phase's failure count after it, ``best_score``
    the best score after it."""

    index: int
    phase: str
    spec: dict[str, Any]
    epochs: int
    outcome: TrainingOutcome
    parameters: int
    decision: str
    accepted: bool
    failures: int
    best_score: float

    def row(self) -> dict[str, Any]:
        """A flat record for the candidates table and MLflow."""
        return {
            "index": self.index,
            "phase": self.phase,
            "depth": self.spec["depth"],
            "width": self.spec["width"],
            "layers": " ".join(f"{op}{kernel}" for op, kernel in self.spec["layers"]),
            "epochs": self.epochs,
            "score": self.outcome.score,
            "train_accuracy": self.outcome.train_accuracy,
            "parameters": self.parameters,
            "decision": self.decision,
            "accepted": self.accepted,
            "failures": self.failures,
            "best_score": self.best_score,
            "seconds": self.outcome.seconds,
            "cached": self.outcome.cached,
        }


@dataclass(frozen=True)
class SearchResult:
    """The found architecture (``spec``, ``score`` its micro-phase score), the macro result,
    every candidate in order, and why each phase stopped."""

    spec: dict[str, Any]
    score: float
    macro_spec: dict[str, Any]
    macro_score: float
    candidates: list[Candidate]
    stop_reasons: dict[str, str]

    def count(self, *phases: str) -> int:
        return sum(candidate.phase in phases for candidate in self.candidates)

    @property
    def counts(self) -> dict[str, int]:
        """D', W', the micro candidates (2 D_f), their sum (the evaluated candidates) and the
        trainings (the sum and the micro baseline's retraining)."""
        grow, prune = self.count(GROW), self.count(PRUNE)
        micro = self.count(MICRO_OPERATION, MICRO_KERNEL)
        return {
            "grow": grow,
            "prune": prune,
            "micro": micro,
            "final_depth": self.macro_spec["depth"],
            "evaluated": grow + prune + micro,
            "trainings": len(self.candidates),
        }

    @property
    def search_seconds(self) -> float:
        return sum(candidate.outcome.seconds for candidate in self.candidates)


class _Search:
    """The state of one run of Algorithm 1 (the candidates so far, the current best)."""

    def __init__(
        self,
        space: GlobalSpace,
        trainer: CandidateTrainer,
        seed: int,
        on_candidate: Callable[[Candidate], None] | None,
    ) -> None:
        self.space, self.trainer, self.seed = space, trainer, seed
        self.on_candidate = on_candidate
        self.candidates: list[Candidate] = []
        self.best_score = float("-inf")

    def train(self, spec: dict[str, Any], epochs: int) -> TrainingOutcome:
        return self.trainer(spec, epochs, self.seed)

    def record(
        self,
        phase: str,
        spec: dict[str, Any],
        epochs: int,
        outcome: TrainingOutcome,
        decision: str,
        accepted: bool,
        failures: int,
    ) -> Candidate:
        if accepted:
            self.best_score = outcome.score
        candidate = Candidate(
            index=len(self.candidates),
            phase=phase,
            spec=spec,
            epochs=epochs,
            outcome=outcome,
            parameters=count_global_parameters(spec),
            decision=decision,
            accepted=accepted,
            failures=failures,
            best_score=self.best_score,
        )
        self.candidates.append(candidate)
        logger.info(
            "candidate %d (%s): depth %d, width %d, %d epochs, %d parameters: score %.2f, "
            "training accuracy %.2f -> %s%s",
            candidate.index,
            phase,
            spec["depth"],
            spec["width"],
            epochs,
            candidate.parameters,
            outcome.score,
            outcome.train_accuracy,
            decision,
            " (cached)" if outcome.cached else "",
        )
        if self.on_candidate is not None:
            self.on_candidate(candidate)
        return candidate


def run_global_search(
    space: GlobalSpace,
    trainer: CandidateTrainer,
    schedule: EpochSchedule = EpochSchedule(),
    rules: SearchRules = SearchRules(),
    seed: int = 0,
    on_candidate: Callable[[Candidate], None] | None = None,
) -> SearchResult:
    """Run Algorithm 1 over ``space`` with ``trainer``; ``on_candidate`` sees every candidate
    as soon as it is decided (to log it)."""
    search = _Search(space, trainer, seed, on_candidate)
    stop: dict[str, str] = {}

    # --- macro: grow ---------------------------------------------------------------------
    epochs, depth, width = schedule.macro_epochs, space.min_depth, space.max_width
    spec = space.macro_spec(width, depth)
    outcome = search.train(spec, epochs)
    best = search.record(GROW, spec, epochs, outcome, "start", True, 0)
    failures, saturated = 0, outcome.train_accuracy >= 100.0
    while True:
        if saturated:
            stop[GROW] = "training accuracy reached 100"
            break
        if depth >= space.max_depth:
            stop[GROW] = "reached max_depth"
            break
        if failures >= rules.max_failures:
            stop[GROW] = f"{failures} failures since the last acceptance"
            break
        depth, epochs = depth + 1, epochs + schedule.grow_step
        spec = space.macro_spec(width, depth)
        outcome = search.train(spec, epochs)
        if outcome.score >= search.best_score + rules.accept_gain - EPSILON:
            failures, decision, accepted = 0, "accepted", True
        elif outcome.score >= search.best_score - rules.grow_tolerance - EPSILON:
            decision, accepted = "within tolerance", False
        else:
            failures, decision, accepted = failures + 1, "failure", False
        candidate = search.record(GROW, spec, epochs, outcome, decision, accepted, failures)
        best = candidate if accepted else best
        saturated = outcome.train_accuracy >= 100.0

    # --- macro: prune --------------------------------------------------------------------
    depth, width, failures = best.spec["depth"], best.spec["width"], 0
    while True:
        if width - space.width_step < space.min_width:
            stop[PRUNE] = "reached min_width"
            break
        if failures >= rules.max_failures:
            stop[PRUNE] = f"{failures} failures"
            break
        width, epochs = width - space.width_step, epochs + schedule.prune_step
        spec = space.macro_spec(width, depth)
        outcome = search.train(spec, epochs)
        accepted = outcome.score >= search.best_score - EPSILON
        failures += not accepted
        candidate = search.record(
            PRUNE, spec, epochs, outcome, "accepted" if accepted else "failure", accepted, failures
        )
        best = candidate if accepted else best
    macro = best

    # --- micro ---------------------------------------------------------------------------
    epochs = schedule.micro_epochs
    search.best_score = float("-inf")
    outcome = search.train(macro.spec, epochs)
    best = search.record(MICRO_BASELINE, macro.spec, epochs, outcome, "baseline", True, 0)
    bound = macro.parameters + rules.param_tolerance
    for phase in (MICRO_OPERATION, MICRO_KERNEL):
        for index in range(macro.spec["depth"]):
            layers = [list(layer) for layer in best.spec["layers"]]
            if phase == MICRO_OPERATION:
                layers[index][0] = "conv"
            else:
                layers[index][1] = 5
            width = width_within_bound(space, best.spec["width"], layers, bound)
            spec = space.spec(width, layers)
            outcome = search.train(spec, epochs)
            accepted = outcome.score > search.best_score + EPSILON
            candidate = search.record(
                phase, spec, epochs, outcome, "accepted" if accepted else "rejected", accepted, 0
            )
            best = candidate if accepted else best
    stop["micro"] = "every layer tried"
    return SearchResult(
        spec=best.spec,
        score=best.outcome.score,
        macro_spec=macro.spec,
        macro_score=macro.outcome.score,
        candidates=search.candidates,
        stop_reasons=stop,
    )

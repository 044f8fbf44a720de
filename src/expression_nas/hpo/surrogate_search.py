"""Seed 001's Algorithm 1: sparseness hyper-parameters tuned through a surrogate network.

Each round:
1. *Competition.* The stored "original+surrogate" network is trained for one round (NI SGD
   iterations) with the previous best setting and, separately, with the current best; the
   copy whose original network scores the better validation accuracy is kept, with its
   setting (the round-1 stored network is a fresh initialisation; the seed fine-tunes a
   face-recognition model, which cannot be fetched here). In this fused training the original
   learns from its own loss (eq. 4), and the surrogate from the same loss under the same
   setting plus the four fitting losses of eq. 9, back-propagated into the surrogate only.
2. *Population.* Each individual's setting trains a copy of the kept surrogate alone for one
   round with its loss (eq. 4, its own dropout) and is scored by eq. 11 on the validation split.
3. *Generation.* One DE or PSO step (or a fresh random draw, the random-search baseline) with
   these scores; the round's best individual becomes the current best, the competition's
   winner the previous best.

After the last round a final competition decides the selected setting, so the selected
setting is always one that the original network validated. The learning rate follows the
seed's lr * 0.5^(iteration / 4000) over the iterations of the rounds. The population lives in
search coordinates (log10 for the coefficients), where the optimisers and the LHS start work.

A checkpoint is written after every round; an interrupted search resumes after its last
complete round and ends exactly as a straight one (every random draw is seeded by its round
and slot).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from expression_nas import progress
from expression_nas.hpo.evolution import DifferentialEvolution, ParticleSwarm, RandomSearch
from expression_nas.hpo.space import Dimension, SearchSpace, latin_hypercube
from expression_nas.hpo.sparseness import (
    HYPERPARAMETERS,
    NO_SPARSENESS,
    FittingWeights,
    SparsenessSetting,
    fitting_loss,
    l1_l2_ratio,
    objective,
    task_loss,
)
from expression_nas.models.registry import build_model
from expression_nas.models.surrogate_net import SparseNetwork
from expression_nas.training.checkpoints import fingerprint, load_checkpoint, save_checkpoint

logger = logging.getLogger(__name__)

OPTIMIZERS = ("de", "pso", "random")
#: The seed's starting point: coefficients around 1e-5, drop probabilities around 0.5.
SEED_DEFAULTS = SparsenessSetting(*(1e-5,) * 4, *(0.5,) * 4)
SEED_FITTING_WEIGHTS = FittingWeights()


@dataclass(frozen=True)
class TensorSplit:
    """Images [N, C, H, W] as float in [0, 1] and their labels [N] (int64)."""

    images: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or len(self.images) != len(self.labels) or len(self.labels) == 0:
            raise ValueError(
                f"expected non-empty images [N, C, H, W] and labels [N], got "
                f"{tuple(self.images.shape)} and {tuple(self.labels.shape)}"
            )


@dataclass(frozen=True)
class SgdSchedule:
    """The seed's solver: SGD, batch 64, momentum 0.9, lr 0.01 * 0.5^(iteration / 4000)."""

    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    halving_iterations: int = 4000

    def lr_at(self, iteration: int) -> float:
        return self.lr * 0.5 ** (iteration / self.halving_iterations)


@dataclass(frozen=True)
class SurrogateSearchConfig:
    """Algorithm 1's settings; the defaults are the seed's (its rounds: 80 of 1000 iterations
    for MaxIter = 8e4). ``tuned`` names the hyper-parameters searched; the others keep their
    value in ``base``. ``start`` is the first previous and current best."""

    optimizer: Literal["de", "pso", "random"] = "pso"
    tuned: tuple[str, ...] = HYPERPARAMETERS
    base: SparsenessSetting = NO_SPARSENESS
    start: SparsenessSetting = SEED_DEFAULTS
    lambda_bounds: tuple[float, float] = (1e-8, 1e-2)
    dropout_bounds: tuple[float, float] = (0.0, 0.7)
    population: int = 6
    rounds: int = 80
    iterations_per_round: int = 1000
    schedule: SgdSchedule = SgdSchedule()
    eta: FittingWeights = SEED_FITTING_WEIGHTS
    kappa: float = 1e-5
    de_mutation: float = 0.1
    de_crossover: float = 0.6
    pso_inertia: float = 0.6
    pso_cognitive: float = 0.2
    pso_social: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r}: expected one of {OPTIMIZERS}")
        unknown = set(self.tuned) - set(HYPERPARAMETERS)
        if not self.tuned or unknown:
            raise ValueError(f"tuned {self.tuned}: expected a non-empty subset of eq. 8's names")
        if self.population < 4 and self.optimizer == "de":
            raise ValueError("DE/rand/1 needs a population of at least 4")

    def space(self) -> SearchSpace:
        dimensions = []
        for name in self.tuned:
            if name.startswith("lambda_"):
                dimensions.append(Dimension(name, *self.lambda_bounds, log=True))
            else:
                dimensions.append(Dimension(name, *self.dropout_bounds))
        return SearchSpace(tuple(dimensions))

    def setting(self, values: dict[str, float]) -> SparsenessSetting:
        return self.base.with_values(values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SurrogateSearchResult:
    selected: SparsenessSetting
    selected_validation_accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)
    surrogate_evaluations: int = 0
    original_rounds: int = 0
    seconds: float = 0.0
    resumed_from_round: int = 0


RoundCallback = Callable[[dict[str, Any]], None]


def batches(split: TensorSplit, batch_size: int, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless shuffled batches, a fresh permutation per pass, from a seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(split.labels), generator=generator)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            yield split.images[rows], split.labels[rows]


def train_iterations(
    modules: nn.Module,
    loss_of_batch: Callable[[Tensor, Tensor], Tensor],
    train: TensorSplit,
    iterations: int,
    first_iteration: int,
    schedule: SgdSchedule,
    seed: int,
) -> float:
    """``iterations`` SGD steps on ``loss_of_batch`` over ``modules``' parameters, the lr of
    each step from ``schedule`` at its global iteration; returns the mean loss. Dropout masks
    and the batch order are seeded by ``seed``. Each call starts a fresh SGD (its momentum
    restarts), as every segment of Algorithm 1 trains its own copy of the networks."""
    torch.manual_seed(seed)
    modules.train()
    optimizer = torch.optim.SGD(
        modules.parameters(),
        lr=schedule.lr_at(first_iteration),
        momentum=schedule.momentum,
        weight_decay=schedule.weight_decay,
    )
    stream = batches(train, schedule.batch_size, seed)
    total = 0.0
    for step in range(iterations):
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(first_iteration + step)
        images, labels = next(stream)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of_batch(images, labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss at iteration {first_iteration + step}: lower the lr or the "
                "sparseness coefficients' upper bound"
            )
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    return total / max(iterations, 1)


@torch.no_grad()
def evaluate(network: SparseNetwork, split: TensorSplit, batch_size: int = 256) -> tuple:
    """(accuracy, mean L1/L2 ratio of x, predictions) of ``network`` in eval mode."""
    network.eval()
    predictions, ratios = [], []
    for start in range(0, len(split.labels), batch_size):
        outputs = network.outputs(split.images[start : start + batch_size])
        predictions.append(outputs.logits.argmax(dim=1))
        ratios.append(l1_l2_ratio(outputs.x))
    predicted = torch.cat(predictions)
    accuracy = float((predicted == split.labels).float().mean())
    return accuracy, float(torch.cat(ratios).mean()), predicted.numpy()


def score(network: SparseNetwork, split: TensorSplit, kappa: float) -> dict[str, float]:
    accuracy, ratio, _ = evaluate(network, split)
    return {
        "accuracy": accuracy,
        "l1_l2_ratio": ratio,
        "objective": objective(accuracy, ratio, kappa),
    }


#: The score of a setting whose training diverged (a non-finite loss): below every real one
#: (accuracy >= 0, objective >= -kappa * sqrt(width)), so it is never kept or selected while
#: any other setting trained, and the run goes on.
DIVERGED = {"accuracy": -1.0, "l1_l2_ratio": 0.0, "objective": -1.0, "diverged": True}


def _configure(network: SparseNetwork, setting: SparsenessSetting) -> None:
    setting.check_fits(network.head)
    network.head.set_dropout(setting.dropout_rates(network.head))


def train_fused(
    pair: nn.ModuleDict,
    setting: SparsenessSetting,
    train: TensorSplit,
    iterations: int,
    first_iteration: int,
    config: SurrogateSearchConfig,
    seed: int,
) -> None:
    """Stage 1: the original on eq. 4, the surrogate on eq. 4 plus the one-sided eq. 9."""
    original, surrogate = pair["original"], pair["surrogate"]
    _configure(original, setting)
    _configure(surrogate, setting)

    def loss(images: Tensor, labels: Tensor) -> Tensor:
        out_o, out_s = original.outputs(images), surrogate.outputs(images)
        return (
            task_loss(out_o, labels, original.head, setting)
            + task_loss(out_s, labels, surrogate.head, setting)
            + fitting_loss(out_o, original.head, out_s, surrogate.head, config.eta)
        )

    train_iterations(pair, loss, train, iterations, first_iteration, config.schedule, seed)


def train_alone(
    network: SparseNetwork,
    setting: SparsenessSetting,
    train: TensorSplit,
    iterations: int,
    first_iteration: int,
    schedule: SgdSchedule,
    seed: int,
) -> None:
    """One network on eq. 4 alone: a surrogate in stage 2, or an original trained from
    scratch (final training, grid search)."""
    _configure(network, setting)

    def loss(images: Tensor, labels: Tensor) -> Tensor:
        return task_loss(network.outputs(images), labels, network.head, setting)

    train_iterations(network, loss, train, iterations, first_iteration, schedule, seed)


def _make_optimizer(config: SurrogateSearchConfig, space: SearchSpace):
    initial = latin_hypercube(space, config.population, config.seed)
    if config.optimizer == "de":
        return DifferentialEvolution(
            space.bounds, initial, config.de_mutation, config.de_crossover, seed=config.seed
        )
    if config.optimizer == "pso":
        return ParticleSwarm(
            space.bounds,
            initial,
            config.pso_inertia,
            config.pso_cognitive,
            config.pso_social,
            seed=config.seed,
        )
    return RandomSearch(
        space.bounds, seed=config.seed, population=config.population, initial_population=initial
    )


def _segment_seed(config: SurrogateSearchConfig, round_index: int, slot: int) -> int:
    return config.seed * 1_000_003 + round_index * 1_009 + slot


def _competition(
    pair: nn.ModuleDict,
    contenders: Sequence[SparsenessSetting],
    train: TensorSplit,
    validation: TensorSplit,
    config: SurrogateSearchConfig,
    round_index: int,
) -> tuple[nn.ModuleDict, SparsenessSetting, list[dict[str, Any]]]:
    first_iteration = round_index * config.iterations_per_round
    unique = list(dict.fromkeys(contenders))
    results = []
    for slot, setting in enumerate(unique):
        trained = copy.deepcopy(pair)
        seed = _segment_seed(config, round_index, slot)
        try:
            train_fused(
                trained, setting, train, config.iterations_per_round, first_iteration, config, seed
            )
        except FloatingPointError as error:
            logger.warning("setting %s diverged in the fused training: %s", setting, error)
            results.append((DIVERGED, copy.deepcopy(pair), setting))  # the untrained copy
            continue
        results.append((score(trained["original"], validation, config.kappa), trained, setting))
    best = max(range(len(results)), key=lambda i: results[i][0]["accuracy"])
    rows = [{"setting": s.as_dict(), **scores} for scores, _, s in results]
    return results[best][1], results[best][2], rows


def surrogate_search(
    original_spec: dict[str, Any],
    train: TensorSplit,
    validation: TensorSplit,
    config: SurrogateSearchConfig,
    checkpoint_path: Path | None = None,
    on_round_end: RoundCallback | None = None,
) -> SurrogateSearchResult:
    """Run Algorithm 1 for ``config.rounds`` rounds; see the module docstring."""
    started = time.perf_counter()
    space = config.space()
    torch.manual_seed(config.seed)
    pair = nn.ModuleDict(
        {
            "original": build_model(original_spec | {"part": "original"}),
            "surrogate": build_model(original_spec | {"part": "surrogate"}),
        }
    )
    optimizer = _make_optimizer(config, space)
    previous_best = current_best = config.base.with_values(
        {name: getattr(config.start, name) for name in config.tuned}
    )
    history: list[dict[str, Any]] = []
    first_round, elapsed = 0, 0.0
    run_key = fingerprint(
        "surrogate_search",
        original_spec,
        config.to_dict(),
        [tuple(train.images.shape), float(train.images.sum()), train.labels.tolist()],
        [tuple(validation.images.shape), validation.labels.tolist()],
    )
    state = load_checkpoint(checkpoint_path, run_key)
    if state is not None:
        pair.load_state_dict(state["pair"])
        optimizer.load_state_dict(state["optimizer"])
        previous_best = SparsenessSetting(**state["previous_best"])
        current_best = SparsenessSetting(**state["current_best"])
        history, first_round, elapsed = state["history"], state["round"] + 1, state["seconds"]
        logger.info(
            "resuming the surrogate search from %s after round %d", checkpoint_path, first_round
        )
        for record in history if on_round_end else ():
            on_round_end(record)
    evaluations = sum(len(record["individuals"]) for record in history)
    rounds = range(first_round, config.rounds)
    for round_index in progress.track(rounds, "surrogate", "round", config.rounds, first_round):
        round_started = time.perf_counter()
        pair, winner, competition = _competition(
            pair, (previous_best, current_best), train, validation, config, round_index
        )
        first_iteration = round_index * config.iterations_per_round
        individuals = []
        for slot, vector in enumerate(optimizer.ask()):
            setting = config.setting(space.from_search(vector))
            surrogate = copy.deepcopy(pair["surrogate"])
            try:
                train_alone(
                    surrogate,
                    setting,
                    train,
                    config.iterations_per_round,
                    first_iteration,
                    config.schedule,
                    _segment_seed(config, round_index, 100 + slot),
                )
                scores = score(surrogate, validation, config.kappa)
            except FloatingPointError as error:
                logger.warning("individual %s diverged: %s", setting, error)
                scores = DIVERGED
            individuals.append({"setting": setting.as_dict(), **scores})
        objectives = [row["objective"] for row in individuals]
        optimizer.tell(np.asarray(objectives))
        evaluations += len(individuals)
        previous_best = winner
        current_best = SparsenessSetting(**individuals[int(np.argmax(objectives))]["setting"])
        record = {
            "round": round_index + 1,
            "competition": competition,
            "kept": winner.as_dict(),
            "individuals": individuals,
            "best_objective": float(np.max(objectives)),
            "objective_spread": float(np.std(objectives)),
            "best_ever_objective": float(optimizer.best[1]),
            "seconds": time.perf_counter() - round_started,
        }
        history.append(record)
        logger.info(
            "surrogate search round %d/%d (%s): kept original at val acc %.3f, best objective "
            "%.4f (spread %.4f)",
            round_index + 1,
            config.rounds,
            config.optimizer,
            max(row["accuracy"] for row in competition),
            record["best_objective"],
            record["objective_spread"],
        )
        if on_round_end is not None:
            on_round_end(record)
        if checkpoint_path is not None:
            save_checkpoint(
                checkpoint_path,
                {
                    "run_key": run_key,
                    "round": round_index,
                    "pair": pair.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "previous_best": previous_best.as_dict(),
                    "current_best": current_best.as_dict(),
                    "history": history,
                    "seconds": elapsed + time.perf_counter() - started,
                },
            )
    _, selected, final = _competition(
        pair, (previous_best, current_best), train, validation, config, config.rounds
    )
    return SurrogateSearchResult(
        selected=selected,
        selected_validation_accuracy=max(row["accuracy"] for row in final),
        history=history,
        surrogate_evaluations=evaluations,
        original_rounds=sum(len(r["competition"]) for r in history) + len(final),
        seconds=elapsed + time.perf_counter() - started,
        resumed_from_round=first_round,
    )


def tied_grid(
    tuned: Sequence[str],
    dropout_values: Sequence[float],
    log10_lambda_values: Sequence[float],
    base: SparsenessSetting = NO_SPARSENESS,
) -> list[SparsenessSetting]:
    """The seed's grid baseline (Table 5): one drop probability shared by every tuned p and
    one coefficient shared by every tuned lambda, over the product of the two value lists
    (a group with nothing tuned contributes one point: its ``base`` values)."""
    lambdas = [n for n in tuned if n.startswith("lambda_")]
    dropouts = [n for n in tuned if n.startswith("p_")]
    settings = []
    for p in dropout_values if dropouts else [None]:
        for exponent in log10_lambda_values if lambdas else [None]:
            values = {n: p for n in dropouts} | {n: 10.0**exponent for n in lambdas}
            settings.append(base.with_values(values))
    return list(dict.fromkeys(settings))


def grid_search(
    original_spec: dict[str, Any],
    grid: Sequence[SparsenessSetting],
    train: TensorSplit,
    validation: TensorSplit,
    iterations: int,
    schedule: SgdSchedule,
    kappa: float = 1e-5,
    seed: int = 0,
) -> tuple[SparsenessSetting, list[dict[str, Any]]]:
    """Train the original network from scratch for ``iterations`` at every grid point and
    pick the point with the best objective (eq. 11) on ``validation``: N_grid original
    trainings, the cost the surrogate avoids."""
    rows = []
    for index, setting in enumerate(progress.track(grid, "grid search", "setting")):
        torch.manual_seed(seed)
        network = build_model(original_spec | {"part": "original"})
        try:
            train_alone(network, setting, train, iterations, 0, schedule, seed * 7_919 + index)
            scores = score(network, validation, kappa)
        except FloatingPointError as error:
            logger.warning("grid point %s diverged: %s", setting, error)
            scores = DIVERGED
        rows.append({"setting": setting.as_dict(), **scores})
    best = max(range(len(rows)), key=lambda i: rows[i]["objective"])
    return grid[best], rows

"""``surrogate_hpo_fer``: seed 001's sparseness hyper-parameter search through a surrogate
network, with DE or PSO, and its baselines. ``conf/base/parameters_surrogate_hpo_fer.yml``
holds the demo's small settings (the defaults here); ``conf/fer/`` the seed's."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from expression_nas.parameters.common import Device, Fraction, ParameterModel, PositiveInt, Seed
from expression_nas.parameters.darts_fer import FerEvaluationParams

#: The rows of the seed's Table 4 (and Table 5's baselines) a corpus can report. ``selected``
#: stands for ``<optimizer>_all``, the pipeline's own choice of optimizer.
METHODS = (
    "baseline",
    "defaults_lambda",
    "defaults_dropout",
    "defaults_all",
    "de_lambda",
    "de_dropout",
    "de_all",
    "pso_lambda",
    "pso_dropout",
    "pso_all",
    "random_all",
    "grid",
    "selected",
)
Method = Literal[METHODS]
TABLE_4 = [m for m in METHODS if m != "selected"]

NonNegative = Annotated[float, Field(ge=0.0)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class NetworkParams(ParameterModel):
    """The original network (and through it its surrogate): ``models.surrogate_net``."""

    backbone: Literal["lenet", "resnet20", "mresnet"] = Field(
        "lenet",
        description="lenet and resnet20 at 28x28 as in the seed; mresnet for the real corpora",
    )
    input_size: int = Field(
        28, ge=16, description="side the 48x48 stills are resized to (LeNet, ResNet20: 28)"
    )


class SolverParams(ParameterModel):
    """The seed's SGD: momentum 0.9, lr 0.01 * 0.5^(iteration / 4000), batch 64 (the demo:
    32)."""

    lr: float = Field(0.01, gt=0.0, description="base learning rate")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    weight_decay: NonNegative = Field(0.0, description="SGD weight decay (the L1 terms regularise)")
    batch_size: PositiveInt = Field(32, description="samples per SGD step (the seed: 64)")
    halving_iterations: PositiveInt = Field(
        4000, description="the learning rate halves every this many iterations"
    )


class SearchParams(ParameterModel):
    """Algorithm 1 (``hpo.surrogate_search``). A round is ``iterations_per_round`` SGD
    iterations (the seed: 1000, its 'epoch'); the seed runs 80 rounds (MaxIter 8e4)."""

    population: PositiveInt = Field(6, ge=4, description="individuals per generation")
    rounds: PositiveInt = Field(3, description="generations (each one round of training)")
    iterations_per_round: PositiveInt = Field(20, description="SGD iterations per round")
    lambda_bounds: tuple[float, float] = Field(
        (1e-8, 1e-2), description="range of the L1 coefficients (searched on a log10 scale)"
    )
    dropout_bounds: tuple[Unit, Unit] = Field(
        (0.0, 0.7), description="range of the drop probabilities (the seed's Table 3: 0 to 0.7)"
    )
    kappa: NonNegative = Field(1e-5, description="weight of the L1/L2 ratio in eq. 11")
    eta: NonNegative = Field(1e-2, description="weight of each of eq. 9's fitting losses")
    de_mutation: Unit = Field(0.1, description="DE's F")
    de_crossover: Unit = Field(0.6, description="DE's CR")
    pso_inertia: NonNegative = Field(0.6, description="PSO's w")
    pso_cognitive: NonNegative = Field(0.2, description="PSO's c1 (the personal best)")
    pso_social: NonNegative = Field(0.9, description="PSO's c2 (the global best)")
    resume: bool = Field(True, description="continue an interrupted search after its last round")

    @model_validator(mode="after")
    def _ordered_bounds(self) -> SearchParams:
        low, high = self.lambda_bounds
        if not 0 < low < high:
            raise ValueError(f"lambda_bounds: need 0 < low < high, got {self.lambda_bounds}")
        if not self.dropout_bounds[0] < self.dropout_bounds[1] < 1:
            raise ValueError(f"dropout_bounds: need low < high < 1, got {self.dropout_bounds}")
        return self


class GridParams(ParameterModel):
    """The grid baseline: one p for every tuned drop probability and one log10 lambda for
    every tuned coefficient (the seed's tied grid), each point an original network trained
    from scratch for ``iterations``."""

    dropout: list[Unit] = Field([0.2, 0.5, 0.7], min_length=1)
    log10_lambda: list[float] = Field([-8.0, -5.0, -2.0], min_length=1)
    iterations: PositiveInt = Field(100, description="SGD iterations per grid point")


class FinalTrainingParams(ParameterModel):
    """The selected setting's original network, trained from scratch and tested once."""

    iterations: PositiveInt = Field(400, description="SGD iterations (the seed: MaxIter 8e4)")
    repeats: PositiveInt = Field(1, description="trainings per row, averaged (the seed: 3)")


class SurrogateEvaluationParams(FerEvaluationParams):
    """One corpus: its protocol and the rows it reports."""

    methods: list[Method] = Field(
        default_factory=lambda: ["baseline", "selected"],
        min_length=1,
        description="rows of the report (Table 4's names; 'selected': <optimizer>_all)",
    )
    validation_fraction: Fraction = Field(
        0.25,
        description="kfold: share of each fold's training subjects that scores the search",
    )


def _demo_evaluation() -> dict[str, SurrogateEvaluationParams]:
    return {
        "demo_fer2013": SurrogateEvaluationParams(protocol="standard_split", methods=TABLE_4),
        "demo_ckplus": SurrogateEvaluationParams(protocol="kfold", k=4),
        "demo_jaffe": SurrogateEvaluationParams(protocol="kfold", k=3),
        "fer2013": SurrogateEvaluationParams(protocol="standard_split", methods=TABLE_4),
        "ckplus": SurrogateEvaluationParams(protocol="kfold", k=10),
        "jaffe": SurrogateEvaluationParams(protocol="kfold", k=10),
    }


class SurrogateHpoFerParams(ParameterModel):
    """``surrogate_hpo_fer``: the sparseness hyper-parameters of a classifier tuned through its
    surrogate (Algorithm 1), reported against the seed's baselines on every corpus."""

    seed: Seed = Field(0, description="seed of folds, LHS, optimisers, initialisations, batches")
    device: Device = "cpu"
    optimizer: Literal["de", "pso"] = Field(
        "pso", description="the optimizer of the 'selected' row and of the written spec"
    )
    checkpoint_dir: str = Field(
        "data/06_models/surrogate_hpo_fer/checkpoints",
        description="folder of the per-round search checkpoints",
    )
    network: NetworkParams = NetworkParams()
    solver: SolverParams = SolverParams()
    search: SearchParams = SearchParams()
    grid: GridParams = GridParams()
    final_training: FinalTrainingParams = FinalTrainingParams()
    evaluation: dict[str, SurrogateEvaluationParams] = Field(
        default_factory=_demo_evaluation, description="per corpus, its protocol and report rows"
    )

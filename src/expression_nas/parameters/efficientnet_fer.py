"""``efficientnet_fer``: seed 003's EfficientNetV2-S scaling search with Optuna TPE, the best
configuration retrained and evaluated, and the seed's two comparisons.
``conf/base/parameters_efficientnet_fer.yml`` holds the demo's small settings (the defaults
here); ``conf/fer/`` the seed's (50 trials, up to 100 epochs, patience 10, the full ranges)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from expression_nas.parameters.common import (
    BatchSize,
    Device,
    Fraction,
    ParameterModel,
    PositiveInt,
    Rate,
    Seed,
)
from expression_nas.parameters.darts_fer import FerEvaluationParams


class FloatRange(ParameterModel):
    """A searched float in [low, high]: on a grid of ``step`` or on a log scale (not both)."""

    low: float
    high: float
    step: float | None = Field(None, gt=0.0)
    log: bool = False

    @model_validator(mode="after")
    def _valid(self) -> FloatRange:
        if not self.low < self.high:
            raise ValueError(f"need low < high, got {self.low}, {self.high}")
        if self.log and (self.step is not None or self.low <= 0):
            raise ValueError("a log range needs low > 0 and no step")
        return self


class IntRange(ParameterModel):
    """A searched int in [low, high] on a grid of ``step``."""

    low: PositiveInt
    high: PositiveInt
    step: PositiveInt = 1

    @model_validator(mode="after")
    def _valid(self) -> IntRange:
        if not self.low < self.high:
            raise ValueError(f"need low < high, got {self.low}, {self.high}")
        return self


class SearchSpaceParams(ParameterModel):
    """The TPE search space (seed 003 sec. 4.5.2.3). The demo narrows width and depth to
    [0.2, 0.5] so that a trial takes seconds on a CPU; the seed searches [0.2, 1.4]."""

    lr: FloatRange = Field(
        FloatRange(low=5.0e-6, high=1.0e-2, log=True), description="Adam learning rate"
    )
    width_coefficient: FloatRange = FloatRange(low=0.2, high=0.5, step=0.05)
    depth_coefficient: FloatRange = FloatRange(low=0.2, high=0.5, step=0.05)
    dropout: FloatRange = Field(
        FloatRange(low=0.0, high=0.5, step=0.05), description="dropout before the classifier"
    )
    top_filters: IntRange = Field(
        IntRange(low=16, high=160, step=8), description="numTopFilters: the head's width"
    )


class NetworkParams(ParameterModel):
    """The searched network (``models.efficientnet_net``)."""

    variant: Literal["scaled_down", "full"] = Field(
        "scaled_down",
        description="scaled_down: EfficientNetV2-S stages 1-4 (seed 003 sec. 4.4.2); full: all six",
    )
    stochastic_depth_prob: Rate = Field(
        0.2, description="stochastic depth of the last block (torchvision's V2-S: 0.2)"
    )


class StudyParams(ParameterModel):
    """The Optuna study and its workers (``hpo.optuna_study``)."""

    name: str = Field("efficientnet_fer", min_length=1, description="the study's name")
    storage: str = Field(
        "data/06_models/efficientnet_fer/optuna_study.journal",
        description="a path: a journal file (several processes of one machine); a URL: an RDB "
        "storage (sqlite:///file.db, or postgresql://user:password@host/db across machines)",
    )
    n_trials: PositiveInt = Field(
        4,
        description="finished trials the study should hold; a re-run with more continues "
        "the study and runs only the difference",
    )
    n_workers: PositiveInt = Field(2, description="worker processes on this machine")
    max_retries: int = Field(
        1, ge=0, description="re-queues of a failed or interrupted trial (same parameters)"
    )
    heartbeat_interval: PositiveInt = Field(
        60, description="RDB storages: seconds between a running trial's heartbeats"
    )
    grace_period: PositiveInt = Field(
        600, description="RDB storages: a trial silent this long (s) is failed and re-queued"
    )


class SamplerParams(ParameterModel):
    """Optuna's TPESampler (seeded with ``efficientnet_fer.seed``)."""

    n_startup_trials: int = Field(
        2, ge=0, description="random trials before TPE models the results (Optuna's default: 10)"
    )
    multivariate: bool = Field(False, description="multivariate TPE")
    constant_liar: bool = Field(
        True, description="avoid parallel workers drawing the same point (Optuna's default)"
    )


class PrunerParams(ParameterModel):
    """Pruning of unpromising trials by their per-epoch validation loss; the seed used none
    (early stopping makes it redundant, sec. 4.5.2.2)."""

    kind: Literal["none", "median", "hyperband"] = "none"
    n_warmup_steps: int = Field(5, ge=0, description="median: epochs before a trial can be pruned")


class EarlyStoppingTrainingParams(ParameterModel):
    """Adam on cross-entropy until the validation loss has not improved for ``patience``
    epochs (``training.early_stopping``); the best epoch's weights are kept."""

    batch_size: BatchSize = 32
    max_epochs: PositiveInt = Field(6, description="at most this many epochs (the seed: 100)")
    patience: PositiveInt = Field(2, description="epochs without improvement (the seed: 10)")
    weight_decay: float = Field(0.0, ge=0.0, description="Adam weight decay")
    weighted_loss: bool = Field(
        True, description="class-weighted cross-entropy (inverse class frequency), the seed's"
    )
    augment: bool = Field(
        True,
        description="on-the-fly augmentation with data_preparation.augmentation's transforms "
        "(flip, rotation 10 degrees, translation, zoom, contrast, brightness 0.1)",
    )
    max_train_images: PositiveInt | None = Field(
        None,
        description="train on at most this many training images, drawn with the seed and "
        "stratified by class (null: all)",
    )


def _search_training() -> EarlyStoppingTrainingParams:
    return EarlyStoppingTrainingParams(max_train_images=600)


class ComparisonParams(ParameterModel):
    """Seed 003's comparisons, each arm trained from scratch on the same data with the same
    budget (``final_training``) and the best trial's hyper-parameters, tested on the search
    corpus's test split: full against scaled-down (accuracy, parameters, time per epoch), and
    weighted against unweighted cross-entropy (accuracy, minority-class recall)."""

    scaling: bool = Field(True, description="full V2-S against the scaled-down network")
    loss_weighting: bool = Field(True, description="weighted against unweighted loss")
    max_train_images: PositiveInt | None = Field(
        600, description="training images of every arm (stratified draw; null: all)"
    )


class EfficientnetEvaluationParams(FerEvaluationParams):
    """One evaluation corpus: its protocol and, for kfold, the share of each fold's training
    subjects held out for early stopping."""

    validation_fraction: Fraction = Field(
        0.25, description="kfold: share of the fold's training subjects for early stopping"
    )


def _demo_evaluation() -> dict[str, EfficientnetEvaluationParams]:
    return {
        "demo_fer2013": EfficientnetEvaluationParams(protocol="standard_split"),
        "demo_ckplus": EfficientnetEvaluationParams(protocol="kfold", k=4),
        "demo_jaffe": EfficientnetEvaluationParams(protocol="kfold", k=3),
        "fer2013": EfficientnetEvaluationParams(protocol="standard_split"),
        "ckplus": EfficientnetEvaluationParams(protocol="kfold", k=10),
        "jaffe": EfficientnetEvaluationParams(protocol="kfold", k=10),
    }


class EfficientnetFerParams(ParameterModel):
    """``efficientnet_fer``: the TPE search on the search corpus (FER2013: trained on
    Training, scored on PublicTest), the best configuration retrained from scratch on every
    evaluation corpus, and the comparisons."""

    seed: Seed = Field(0, description="seed of the sampler, subsets, folds, initialisations")
    device: Device = "cpu"
    threads: PositiveInt | None = Field(
        1,
        description="torch threads of the training done in the pipeline's own process (final "
        "models, comparisons; null: torch's default). The search workers use cores // n_workers",
    )
    network: NetworkParams = NetworkParams()
    space: SearchSpaceParams = SearchSpaceParams()
    study: StudyParams = StudyParams()
    sampler: SamplerParams = SamplerParams()
    pruner: PrunerParams = PrunerParams()
    search_training: EarlyStoppingTrainingParams = Field(
        default_factory=_search_training, description="training of each trial"
    )
    final_training: EarlyStoppingTrainingParams = Field(
        EarlyStoppingTrainingParams(max_epochs=8, patience=2),
        description="the best configuration retrained from scratch (per corpus and fold)",
    )
    comparisons: ComparisonParams = ComparisonParams()
    evaluation: dict[str, EfficientnetEvaluationParams] = Field(
        default_factory=_demo_evaluation, description="per evaluation corpus, its protocol"
    )

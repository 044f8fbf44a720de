"""``darts_fer``: the parameters shared by the darts_fer and darts_stn_fer pipelines (seed 002),
so that both strategies run on the same data with the same settings and seed. In
``conf/base/parameters_darts_fer.yml`` (the demo's settings, the defaults here) and
``conf/fer/parameters_darts_fer.yml`` (DARTS' settings for the real corpora)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from expression_nas.parameters.common import (
    BatchSize,
    BilevelSearchParams,
    Device,
    Epochs,
    Fraction,
    LearningRate,
    MinLearningRate,
    ParameterModel,
    PositiveInt,
    Rate,
    Seed,
    SgdTrainingParams,
    Workers,
    only_placeholders,
)

#: A DARTS network needs two reduction cells (at 1/3 and 2/3 of the depth) and a normal one.
DartsLayers = Annotated[
    int, Field(ge=3, description="cells (reductions at 1/3 and 2/3 of the depth)")
]


class DartsSearchSpaceParams(ParameterModel):
    """The search network (``nas.darts.search_space.DartsSearchConfig``); DARTS: 8 cells of 16
    channels, 4 nodes, stem x3 (``conf/fer/``)."""

    channels: PositiveInt = Field(4, description="channels of the first cell")
    layers: DartsLayers = 3
    nodes: PositiveInt = Field(4, description="intermediate nodes per cell")
    stem_multiplier: PositiveInt = Field(
        3, description="stem channels = stem_multiplier * channels"
    )
    max_skip_connect: int | None = Field(
        2,
        ge=0,
        description="skip-connection guard at derivation: at most this many per cell (null: off)",
    )
    memory: Literal["lean", "fast"] = Field(
        "fast",
        description="lean: every mixed edge is recomputed in the backward pass (about a tenth "
        "of the memory, a few tens of percent more time); fast: its activations are kept",
    )


class DartsSearchParams(BilevelSearchParams):
    """The cell search, on the search corpus's training split only (FER2013: usage Training).
    ``order`` applies to DARTS; DARTS-STN has its own hypergradient."""

    train_portion: Fraction = Field(
        0.5,
        description="share of the training split for the weight steps; the rest feeds the "
        "architecture steps",
    )
    max_images: PositiveInt | None = Field(
        128,
        description="search on at most this many images of the training split, drawn with the "
        "seed and stratified by class (null: all of it, as DARTS)",
    )
    epochs: Epochs = 3
    batch_size: BatchSize = 16
    lr: LearningRate = 0.025
    lr_min: MinLearningRate = 0.001


class StnParams(ParameterModel):
    """DARTS-STN only (Algorithm 2, eq. 22-24; ``nas.stn_search.StnSettings``)."""

    t_train: PositiveInt = Field(
        2, description="weight steps at perturbed hyper-parameters per round"
    )
    t_val: PositiveInt = Field(1, description="hyper-parameter (and sigma) steps per round")
    tau: float = Field(1.0e-3, ge=0.0, description="weight of the entropy term")
    sigma_init: float = Field(0.1, gt=0.0, description="initial perturbation scale")
    sigma_lr: float = Field(3.0e-3, gt=0.0, description="learning rate of the perturbation scale")
    sigma_min: float = Field(1.0e-4, gt=0.0, description="lower bound of the perturbation scale")
    sigma_max: float = Field(2.0, gt=0.0, description="upper bound of the perturbation scale")
    tune_dropout: bool = Field(
        True,
        description="also tune two dropout rates (after each cell, before the classifier)",
    )
    initial_dropout: Fraction = Field(0.05, description="starting value of the tuned dropout rates")

    @model_validator(mode="after")
    def _sigma_within_bounds(self) -> StnParams:
        if not self.sigma_min <= self.sigma_init <= self.sigma_max:
            raise ValueError(
                f"need sigma_min <= sigma_init <= sigma_max, got {self.sigma_min}, "
                f"{self.sigma_init}, {self.sigma_max}"
            )
        return self


class FinalNetworkParams(ParameterModel):
    """The searched cells stacked into the network trained from scratch; DARTS: 20 cells of 36
    channels. The same fixed dropout rates for both methods keep the comparison about the
    cells; null uses the rates DARTS-STN tuned (0 for DARTS)."""

    channels: PositiveInt = Field(8, description="channels of the first cell")
    layers: DartsLayers = 3
    dropout: Rate | None = Field(0.0, description="dropout before the classifier")
    cell_dropout: Rate | None = Field(0.0, description="dropout after every cell")


class DartsTrainingParams(SgdTrainingParams):
    """Training of the final network on each evaluation corpus, per fold of its protocol."""

    batch_size: BatchSize = 32
    weighted_loss: bool = Field(
        False, description="class-weighted cross-entropy (inverse class frequency)"
    )
    log_models: bool = Field(
        True, description="log every trained network (one per fold) with mlflow.pytorch"
    )
    workers: Workers = "auto"


class FerEvaluationParams(ParameterModel):
    """The evaluation protocol of one corpus (``experiments.fer_evaluation``)."""

    protocol: Literal["standard_split", "kfold"] = Field(
        description="standard_split: FER2013's Training / PrivateTest usage; kfold: "
        "person-independent k-fold cross-validation"
    )
    k: int = Field(10, ge=2, description="folds of the kfold protocol")


class DartsEvaluationParams(FerEvaluationParams):
    """One evaluation corpus of the DARTS pipelines: its protocol and, for corpora of very
    different sizes, its own number of training epochs and batch size (a corpus of a few
    hundred images needs smaller batches to get enough optimisation steps)."""

    epochs: Epochs | None = Field(
        None, description="training epochs on this corpus (null: training.epochs)"
    )
    batch_size: BatchSize | None = Field(
        None, description="training batch size on this corpus (null: training.batch_size)"
    )


class DartsFerParams(ParameterModel):
    """``darts_fer``: a DARTS or DARTS-STN cell search on the training split of the search
    corpus, then the derived network trained and evaluated on every evaluation corpus."""

    seed: Seed = Field(
        0, description="seed of the search split and folds, initialisations and batch order"
    )
    device: Device = "auto"
    checkpoint_dir: Annotated[str, only_placeholders("method")] = Field(
        "data/06_models/{method}/checkpoints",
        description="folder of the per-epoch search checkpoints ({method}: the pipeline's name)",
    )
    search_space: DartsSearchSpaceParams = DartsSearchSpaceParams()
    search: DartsSearchParams = DartsSearchParams()
    stn: StnParams = StnParams()
    final_network: FinalNetworkParams = FinalNetworkParams()
    training: DartsTrainingParams = DartsTrainingParams()
    evaluation: dict[str, DartsEvaluationParams] = Field(
        default_factory=lambda: {
            "demo_fer2013": DartsEvaluationParams(protocol="standard_split", epochs=3),
            "demo_ckplus": DartsEvaluationParams(protocol="kfold", k=2, epochs=20, batch_size=8),
            "demo_jaffe": DartsEvaluationParams(protocol="kfold", k=4, epochs=20, batch_size=8),
            "fer2013": DartsEvaluationParams(protocol="standard_split"),
            "ckplus": DartsEvaluationParams(protocol="kfold", k=10),
            "jaffe": DartsEvaluationParams(protocol="kfold", k=10),
        },
        description="per evaluation corpus, its protocol (and optionally its epochs)",
    )

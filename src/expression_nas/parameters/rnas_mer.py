"""``rnas_mer``: the parameters of the RNAS-MER pipeline (seed 000), in
``conf/base/parameters_rnas_mer.yml`` (the demo's settings, the defaults here) and
``conf/<corpus>/parameters_rnas_mer.yml`` (the seed's settings on a real corpus)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

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

#: The full method and its ablations (see ``experiments.library_configs.RNAS_VARIANTS``).
Variant = Literal[
    "rnas", "no_hybrid", "no_attention", "fixed_path", "no_prev_prev", "autodeeplab3d"
]


def _search_groups(value: object) -> str | int:
    if value == "by_source" or (type(value) is int and value >= 2):
        return value
    raise ValueError("expected 'by_source' or an integer number of subject groups >= 2")


class RnasInputParams(ParameterModel):
    """What the networks see of a clip."""

    representation: Literal["frames", "onset_difference"] = Field(
        "onset_difference",
        description="frames: the clip as it is (seed 000); onset_difference: every frame minus "
        "the onset frame, times gain (the motion alone)",
    )
    gain: float = Field(
        6.0, gt=0.0, description="factor on the onset difference (unused with frames)"
    )

    @property
    def onset_difference_gain(self) -> float | None:
        """The gain of the onset difference, or None when the networks see the frames."""
        return self.gain if self.representation == "onset_difference" else None


class RnasSearchSpaceParams(ParameterModel):
    """The supernet (``nas.rnas.search_space.RnasSearchConfig``); seed 000's space has 6
    layers and 5 nodes (``conf/composite/``), the demo a smaller one."""

    layers: PositiveInt = Field(4, description="cells of the supernet")
    nodes: PositiveInt = Field(3, description="hidden nodes per cell")
    channels: PositiveInt = Field(
        4, description="channels at the first level; doubled at every stride-2 level"
    )
    levels: PositiveInt = Field(
        2, description="resolution levels the network-level path (beta) can visit"
    )
    stem_stride: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        (2, 4, 4), description="stride of the stem in (frames, pixels, pixels)"
    )
    partial_channel_k: PositiveInt = Field(
        2,
        description="PC-DARTS partial channels: 1/k of the channels go through each mixed "
        "operation; must divide channels",
    )
    checkpoint_edges: bool = Field(
        False,
        description="recompute the edges in the backward pass (memory for time; on for real clips)",
    )

    @model_validator(mode="after")
    def _partial_channels_divide(self) -> RnasSearchSpaceParams:
        if self.channels % self.partial_channel_k:
            raise ValueError(
                f"partial_channel_k ({self.partial_channel_k}) must divide channels "
                f"({self.channels})"
            )
        return self


class RnasSearchParams(BilevelSearchParams):
    """The search of alpha, beta and eta; seed 000: 30 epochs, batch 4, lr 0.007."""

    epochs: Epochs = 2
    batch_size: BatchSize = 8
    lr: LearningRate = 0.007
    lr_min: MinLearningRate = 0.0


class RnasTrainingParams(SgdTrainingParams):
    """The derived network trained from scratch; seed 000: 70 epochs, batch 12, lr 0.007."""

    batch_size: BatchSize = 8
    dropout: Rate = Field(0.0, description="dropout before the classifier of the derived network")
    workers: Workers = "auto"


class RnasProfilingParams(ParameterModel):
    """Costs measured for every searched architecture (``evaluation.profiling``)."""

    latency_repeats: PositiveInt = Field(
        10, description="timed forward passes behind the latency median and 90th percentile"
    )


class RnasMerParams(ParameterModel):
    """``rnas_mer``: subject-disjoint architecture searches, leave-one-subject-out training and
    evaluation of the derived networks, cross-database tests between the composite's sources
    and a release model."""

    variant: Variant = Field(
        "rnas",
        description="rnas (the full method), an ablation (no_hybrid: plain 3D operations; "
        "no_attention: no eta refinement; fixed_path: no beta, evenly spread down-sampling; "
        "no_prev_prev: cells without the l-2 input) or the autodeeplab3d baseline",
    )
    seed: Seed = Field(
        0, description="seed of the subject groups and splits, initialisations and batch order"
    )
    device: Device = "auto"
    search_groups: Annotated[Literal["by_source"] | int, BeforeValidator(_search_groups)] = Field(
        "by_source",
        description="which subjects each search may see. by_source: one search per source "
        "corpus of the composite, on the other sources; an integer G: subjects split into G "
        "groups, likewise. No evaluated subject is seen by the search that chose its "
        "architecture.",
    )
    checkpoint_dir: Annotated[str, only_placeholders("corpus")] = Field(
        "data/06_models/{corpus}/rnas_mer/checkpoints",
        description="folder of the per-epoch search checkpoints ({corpus} is filled in)",
    )
    validation_fraction: Fraction = Field(
        0.25,
        description="share of the search subjects (split by subject) for the architecture steps",
    )
    input: RnasInputParams = RnasInputParams()
    search_space: RnasSearchSpaceParams = RnasSearchSpaceParams()
    search: RnasSearchParams = RnasSearchParams()
    training: RnasTrainingParams = RnasTrainingParams()
    profiling: RnasProfilingParams = RnasProfilingParams()

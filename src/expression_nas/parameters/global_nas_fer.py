"""``global_nas_fer``: seed 004's global macro-micro search with architecture-aware ("dynamic")
training, the found network trained from scratch and evaluated, and the random-sampling
baseline. ``conf/base/parameters_global_nas_fer.yml`` holds the demo's settings (the defaults
here); ``conf/fer/`` the seed's (the tiny preset, 600 final epochs, 10 random networks)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from expression_nas.parameters.common import (
    BatchSize,
    Device,
    Epochs,
    LearningRate,
    Momentum,
    ParameterModel,
    PositiveInt,
    Seed,
    WeightDecay,
    only_placeholders,
)
from expression_nas.parameters.darts_fer import FerEvaluationParams


class PresetParams(ParameterModel):
    """The bounds of the space and the epochs of one search setting (seed 004 sec. 4.1:
    tiny D 10-100, W 16-64 by 2, E_min 10 macro and 2 micro; mobile the same with W up to
    128)."""

    min_depth: PositiveInt = Field(description="D_min: layers of the start network")
    max_depth: PositiveInt = Field(description="D_max: the grow phase stops there")
    min_width: PositiveInt = Field(description="W_min: the prune phase stops there")
    max_width: PositiveInt = Field(
        description="W_max: channels of the start network's first layers"
    )
    width_step: PositiveInt = Field(2, description="W_res: channels removed per pruned candidate")
    macro_epochs: PositiveInt = Field(
        description="E_min of the macro search: epochs of the start network (+1 per grown, "
        "+2 per pruned candidate)"
    )
    micro_epochs: PositiveInt = Field(description="E of every micro candidate (fixed)")
    param_tolerance: int = Field(
        10_000,
        ge=0,
        description="micro phase: a candidate's width is lowered until it has at most the macro "
        "network's parameters + this many (the seed: 0.01M)",
    )

    @model_validator(mode="after")
    def _valid_bounds(self) -> PresetParams:
        if self.min_depth > self.max_depth or self.min_width > self.max_width:
            raise ValueError("need min_depth <= max_depth and min_width <= max_width")
        if (self.max_width - self.min_width) % self.width_step:
            raise ValueError("max_width - min_width must be a multiple of width_step")
        return self


def _presets() -> dict[str, PresetParams]:
    return {
        "demo": PresetParams(
            min_depth=3,
            max_depth=8,
            min_width=8,
            max_width=16,
            width_step=4,
            macro_epochs=4,
            micro_epochs=2,
            param_tolerance=500,
        ),
        "tiny": PresetParams(
            min_depth=10, max_depth=100, min_width=16, max_width=64, macro_epochs=10, micro_epochs=2
        ),
        "mobile": PresetParams(
            min_depth=10,
            max_depth=100,
            min_width=16,
            max_width=128,
            macro_epochs=10,
            micro_epochs=2,
        ),
    }


class SearchRulesParams(ParameterModel):
    """Algorithm 1's thresholds, in percentage points of validation accuracy (the seed's)."""

    accept_gain: float = Field(
        0.10, ge=0.0, description="grow: accept a deeper network scoring at least best + this"
    )
    grow_tolerance: float = Field(
        0.05, ge=0.0, description="grow: below best - this a deeper network is a failure"
    )
    max_failures: PositiveInt = Field(
        3, description="grow: failures since the last acceptance; prune: failures in all"
    )


class CandidateTrainingParams(ParameterModel):
    """SGD with momentum, the learning rate cosine-annealed to 0 over a network's epochs,
    gradient clipping, optionally cutout (the seed's settings; every network starts from a
    fresh initialisation)."""

    batch_size: BatchSize = 64
    lr: LearningRate = 0.025
    momentum: Momentum = 0.9
    weight_decay: WeightDecay = 3.0e-4
    grad_clip: float = Field(5.0, gt=0.0, description="clip norm of the weight gradients")
    cutout: PositiveInt | None = Field(
        None,
        description="cutout: side (pixels) of the square zeroed in every training image "
        "(the seed: 16 on 32x32 images; null: off)",
    )


class SearchTrainingParams(CandidateTrainingParams):
    """Training of each candidate: on the search corpus's training split, scored on its
    validation split (FER2013: Training and PublicTest). The demo trains at batch 32 (more
    steps per epoch for its few epochs) on 1,000 of the 1,828 Training images; the seed at
    batch 64 on all of them (``conf/fer/``)."""

    batch_size: BatchSize = 32

    max_train_images: PositiveInt | None = Field(
        1000,
        description="train each candidate on at most this many training images, a stratified "
        "draw with the seed (null: all)",
    )
    cache_dir: Annotated[str, only_placeholders("pipeline")] = Field(
        "data/06_models/{pipeline}/candidates",
        description="folder of the candidate cache ({pipeline}: the pipeline's name); a search "
        "run again with the same settings reuses the candidates it finds there",
    )
    resume: bool = Field(True, description="reuse cached candidates (false: train all again)")


class FinalTrainingParams(CandidateTrainingParams):
    """The found network and every random one, trained from scratch for fixed epochs under
    each corpus's protocol (the seed: 600 epochs at batch 64, the search's other settings;
    the demo: 8 epochs at batch 32)."""

    batch_size: BatchSize = 32
    epochs: Epochs = 8
    log_models: bool = Field(
        True, description="log the found network trained on the search corpus (mlflow.pytorch)"
    )


class RandomBaselineParams(ParameterModel):
    """Networks drawn uniformly from the preset's space (depth, width, every layer's operation
    and kernel), each trained and tested on the search corpus like the found one."""

    architectures: PositiveInt = Field(5, description="random networks (the seed: 10)")
    seed: Seed = Field(1, description="seed of the draws (their training uses the pipeline's)")


class GlobalEvaluationParams(FerEvaluationParams):
    """One evaluation corpus: its protocol and optionally its own number of epochs."""

    epochs: Epochs | None = Field(
        None, description="final training epochs on this corpus (null: final_training.epochs)"
    )


def _demo_evaluation() -> dict[str, GlobalEvaluationParams]:
    return {
        "demo_fer2013": GlobalEvaluationParams(protocol="standard_split"),
        "demo_ckplus": GlobalEvaluationParams(protocol="kfold", k=4, epochs=15),
        "demo_jaffe": GlobalEvaluationParams(protocol="kfold", k=3, epochs=25),
        "fer2013": GlobalEvaluationParams(protocol="standard_split"),
        "ckplus": GlobalEvaluationParams(protocol="kfold", k=10),
        "jaffe": GlobalEvaluationParams(protocol="kfold", k=10),
    }


class GlobalNasFerParams(ParameterModel):
    """``global_nas_fer``: Algorithm 1 on the search corpus (the pipeline's first, FER2013:
    candidates trained on Training and scored on PublicTest), the found network trained from
    scratch on every evaluation corpus, and the random baseline on the search corpus."""

    seed: Seed = Field(0, description="seed of every initialisation, batch order and subset")
    device: Device = "cpu"
    threads: PositiveInt | None = Field(
        1, description="torch threads (null: torch's default); small networks run fastest on 1"
    )
    presets: dict[str, PresetParams] = Field(
        default_factory=_presets, description="search settings by name (demo, tiny, mobile)"
    )
    preset: str = Field("demo", description="the search setting: a key of presets")
    input_size: PositiveInt | None = Field(
        24,
        description="images are averaged down to input_size x input_size pixels before "
        "training (null: as prepared, 48x48)",
    )
    rules: SearchRulesParams = SearchRulesParams()
    search_training: SearchTrainingParams = SearchTrainingParams()
    final_training: FinalTrainingParams = FinalTrainingParams()
    random_baseline: RandomBaselineParams = RandomBaselineParams()
    evaluation: dict[str, GlobalEvaluationParams] = Field(
        default_factory=_demo_evaluation, description="per evaluation corpus, its protocol"
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, preset: str, info: ValidationInfo) -> str:
        presets = info.data.get("presets")
        if presets is not None and preset not in presets:
            raise ValueError(f"expected a key of presets: {', '.join(sorted(presets))}")
        return preset

    @property
    def bounds(self) -> PresetParams:
        """The chosen preset's settings."""
        return self.presets[self.preset]

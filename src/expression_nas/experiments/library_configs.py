"""The one place where the pipelines' typed parameters (``expression_nas.parameters``) become
the library's configs. Library code takes these configs and never a parameter dict."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from pydantic import BaseModel

from expression_nas.hpo.optuna_study import StudyConfig
from expression_nas.nas.darts.search_space import DartsSearchConfig
from expression_nas.nas.global_nas.space import GlobalSpace
from expression_nas.nas.global_nas.strategy import EpochSchedule, SearchRules
from expression_nas.nas.rnas.operations import HYBRID_OPERATIONS, PLAIN_3D_OPERATIONS
from expression_nas.nas.rnas.search_space import RnasSearchConfig
from expression_nas.nas.search_loop import SearchSettings
from expression_nas.nas.stn_search import StnSettings
from expression_nas.parameters import (
    AlignmentParams,
    AugmentationParams,
    DartsFerParams,
    EfficientnetFerParams,
    GlobalNasFerParams,
    RnasMerParams,
)
from expression_nas.parameters.common import BilevelSearchParams, SgdTrainingParams
from expression_nas.parameters.darts_fer import StnParams
from expression_nas.parameters.efficientnet_fer import EarlyStoppingTrainingParams
from expression_nas.parameters.global_nas_fer import CandidateTrainingParams, PresetParams
from expression_nas.preprocessing.alignment import AlignmentConfig
from expression_nas.preprocessing.augmentation import AugmentationConfig
from expression_nas.training.early_stopping import EarlyStoppingConfig
from expression_nas.training.loop import OptimizerConfig

Config = TypeVar("Config")

#: Ablations of seed 000 and the Auto-DeepLab-3D-like baseline, as switches of one search space.
RNAS_VARIANTS: dict[str, dict[str, Any]] = {
    "rnas": {},
    "no_hybrid": {"operations": PLAIN_3D_OPERATIONS},
    "no_attention": {"search_attention": False},
    "fixed_path": {"search_path": False},
    "no_prev_prev": {"use_prev_prev": False},
    "autodeeplab3d": {"operations": PLAIN_3D_OPERATIONS, "search_attention": False},
}
DARTS_STRATEGIES = ("darts", "darts_stn")


def library_config(config: type[Config], section: BaseModel, **given: Any) -> Config:
    """The dataclass ``config`` with each field from ``given`` or else from the field of
    ``section`` of the same name. A field that neither holds is an error rather than the
    library's default, so a renamed parameter cannot drop out unnoticed; fields of ``section``
    that ``config`` lacks (protocol settings such as ``resume``) are left out."""
    names = {field.name for field in dataclasses.fields(config)}
    values = section.model_dump(include=names - set(given))
    missing = names - set(values) - set(given)
    if missing:
        raise TypeError(f"{config.__name__}: nothing in {type(section).__name__} for {missing}")
    return config(**values, **given)


def search_settings(search: BilevelSearchParams, seed: int) -> SearchSettings:
    return library_config(SearchSettings, search, seed=seed)


def optimizer_config(training: SgdTrainingParams) -> OptimizerConfig:
    """SGD with the learning rate cosine-annealed over the epochs, no gradient clipping."""
    return library_config(OptimizerConfig, training, cosine=True, grad_clip=None)


def rnas_search_config(params: RnasMerParams, n_classes: int, in_channels: int) -> RnasSearchConfig:
    """The supernet of ``params.variant`` for ``n_classes`` and clips of ``in_channels``."""
    space = params.search_space.model_dump()
    settings = {"operations": HYBRID_OPERATIONS, **space, **RNAS_VARIANTS[params.variant]}
    return RnasSearchConfig(in_channels=in_channels, num_classes=n_classes, **settings)


def darts_search_config(
    params: DartsFerParams,
    strategy: str,
    n_classes: int,
    in_channels: int,
    input_size: tuple[int, int],
) -> DartsSearchConfig:
    """The search network of ``strategy`` (darts or darts_stn) for images of ``input_size``."""
    if strategy not in DARTS_STRATEGIES:
        raise ValueError(f"strategy {strategy!r} is not one of {DARTS_STRATEGIES}")
    stn = strategy == "darts_stn"
    return DartsSearchConfig(
        in_channels=in_channels,
        num_classes=n_classes,
        input_size=input_size,
        stn=stn,
        tune_dropout=stn and params.stn.tune_dropout,
        initial_dropout=params.stn.initial_dropout,
        **params.search_space.model_dump(),
    )


def stn_settings(stn: StnParams) -> StnSettings:
    return library_config(StnSettings, stn)


def alignment_config(alignment: AlignmentParams) -> AlignmentConfig:
    """The aligner's settings (``enabled`` decides whether it runs at all)."""
    return library_config(AlignmentConfig, alignment)


def augmentation_config(augmentation: AugmentationParams) -> AugmentationConfig:
    """The transform's settings (seed, copies and balancing plan the copies)."""
    return library_config(AugmentationConfig, augmentation)


def study_config(params: EfficientnetFerParams) -> StudyConfig:
    """The Optuna study of ``efficientnet_fer``: storage, TPE sampler, pruner, retries."""
    study, sampler = params.study, params.sampler
    return StudyConfig(
        name=study.name,
        storage=study.storage,
        seed=params.seed,
        n_startup_trials=sampler.n_startup_trials,
        multivariate=sampler.multivariate,
        constant_liar=sampler.constant_liar,
        pruner=params.pruner.kind,
        pruner_warmup_steps=params.pruner.n_warmup_steps,
        max_resource=params.search_training.max_epochs,
        max_retries=study.max_retries,
        heartbeat_interval=study.heartbeat_interval,
        grace_period=study.grace_period,
    )


def early_stopping_config(training: EarlyStoppingTrainingParams, lr: float) -> EarlyStoppingConfig:
    """Adam at ``lr`` (searched, so not a parameter of the section) with the stopping rule."""
    return library_config(EarlyStoppingConfig, training, lr=lr, min_delta=0.0)


def global_space(preset: PresetParams, in_channels: int, num_classes: int) -> GlobalSpace:
    """The space of a ``global_nas_fer`` preset for ``in_channels`` and ``num_classes``."""
    return library_config(GlobalSpace, preset, in_channels=in_channels, num_classes=num_classes)


def epoch_schedule(preset: PresetParams) -> EpochSchedule:
    """The preset's epochs; +1 per grown and +2 per pruned candidate, as the seed trains."""
    return library_config(EpochSchedule, preset, grow_step=1, prune_step=2)


def search_rules(params: GlobalNasFerParams) -> SearchRules:
    """Algorithm 1's thresholds and the chosen preset's micro parameter bound."""
    return library_config(SearchRules, params.rules, param_tolerance=params.bounds.param_tolerance)


def candidate_optimizer(training: CandidateTrainingParams, epochs: int) -> OptimizerConfig:
    """SGD over ``epochs`` with the cosine schedule and ``training``'s gradient clipping."""
    return library_config(OptimizerConfig, training, epochs=epochs, cosine=True)

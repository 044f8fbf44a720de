"""The library configs built from the typed parameters: the demo's (conf/base) settings, as the
parameter dicts gave them before the typed models, and the variant switches."""

from dataclasses import dataclass, fields
from typing import get_args

import pytest

from expression_nas.experiments.library_configs import (
    RNAS_VARIANTS,
    alignment_config,
    augmentation_config,
    darts_search_config,
    library_config,
    optimizer_config,
    rnas_search_config,
    search_settings,
    stn_settings,
)
from expression_nas.nas.darts.search_space import DartsSearchConfig
from expression_nas.nas.rnas.operations import HYBRID_OPERATIONS, PLAIN_3D_OPERATIONS
from expression_nas.nas.rnas.search_space import RnasSearchConfig
from expression_nas.nas.search_loop import SearchSettings
from expression_nas.nas.stn_search import StnSettings
from expression_nas.parameters import (
    AlignmentParams,
    AugmentationParams,
    CorpusParams,
    DartsFerParams,
    RnasMerParams,
)
from expression_nas.parameters.rnas_mer import Variant
from expression_nas.preprocessing.alignment import AlignmentConfig
from expression_nas.preprocessing.augmentation import AugmentationConfig
from expression_nas.training.loop import OptimizerConfig

SHARED_SEARCH = {"momentum": 0.9, "weight_decay": 3e-4, "arch_lr": 3e-3, "arch_weight_decay": 1e-3}
SHARED_TRAINING = {"epochs": 10, "lr": 0.05, "momentum": 0.9, "weight_decay": 3e-4}


def test_rnas_demo_configs():
    params = RnasMerParams()
    assert rnas_search_config(params, 3, 1) == RnasSearchConfig(
        in_channels=1,
        num_classes=3,
        layers=4,
        nodes=3,
        channels=4,
        levels=2,
        stem_stride=(2, 4, 4),
        operations=HYBRID_OPERATIONS,
        partial_channel_k=2,
        checkpoint_edges=False,
    )
    assert search_settings(params.search, params.seed) == SearchSettings(
        epochs=2, batch_size=8, lr=0.007, lr_min=0.0, **SHARED_SEARCH, seed=0
    )
    assert optimizer_config(params.training) == OptimizerConfig(**SHARED_TRAINING, batch_size=8)
    assert params.input.onset_difference_gain == 6.0
    assert RnasMerParams(input={"representation": "frames"}).input.onset_difference_gain is None


def test_darts_demo_configs():
    params = DartsFerParams()
    assert darts_search_config(params, "darts_stn", 7, 1, (48, 48)) == DartsSearchConfig(
        in_channels=1,
        num_classes=7,
        input_size=(48, 48),
        channels=4,
        layers=3,
        nodes=4,
        stem_multiplier=3,
        max_skip_connect=2,
        stn=True,
        tune_dropout=True,
        initial_dropout=0.05,
    )
    darts = darts_search_config(params, "darts", 7, 1, (48, 48))
    assert not darts.stn and not darts.tune_dropout
    with pytest.raises(ValueError, match="strategy"):
        darts_search_config(params, "random", 7, 1, (48, 48))
    assert search_settings(params.search, params.seed) == SearchSettings(
        epochs=3, batch_size=16, lr=0.025, lr_min=0.001, **SHARED_SEARCH, seed=0
    )
    assert stn_settings(params.stn) == StnSettings(
        t_train=2, t_val=1, tau=1e-3, sigma_init=0.1, sigma_lr=3e-3, sigma_min=1e-4, sigma_max=2.0
    )
    assert optimizer_config(params.training) == OptimizerConfig(**SHARED_TRAINING, batch_size=32)


def test_every_variant_has_its_switches():
    assert set(RNAS_VARIANTS) == set(get_args(Variant))
    space = {"layers": 2, "nodes": 2, "channels": 4, "levels": 2}

    def config(variant: str) -> RnasSearchConfig:
        return rnas_search_config(RnasMerParams(variant=variant, search_space=space), 3, 1)

    baseline = config("autodeeplab3d")
    assert baseline.operations == PLAIN_3D_OPERATIONS and not baseline.search_attention
    assert config("fixed_path").search_path is False
    assert config("no_prev_prev").use_prev_prev is False
    assert config("rnas") == RnasSearchConfig(
        in_channels=1,
        num_classes=3,
        **space,
        stem_stride=(2, 4, 4),
        partial_channel_k=2,
        checkpoint_edges=False,
        operations=HYBRID_OPERATIONS,
    )


def test_a_corpus_overrides_only_the_alignment_keys_it_gives():
    shared = AlignmentParams(min_score=0.8)
    corpus = CorpusParams(
        kind="jaffe", root="x", classes=["happy"], alignment={"size": 48, "enabled": False}
    )
    merged = corpus.alignment_over(shared)
    assert (merged.size, merged.enabled, merged.min_score) == (48, False, 0.8)
    assert alignment_config(merged) == AlignmentConfig(size=48, min_score=0.8)
    assert CorpusParams(kind="jaffe", root="x", classes=["happy"]).alignment_over(shared) == shared


def test_every_alignment_setting_reaches_the_aligner():
    """All but ``enabled``, which decides whether the aligner runs."""
    aligner = {field.name for field in fields(AlignmentConfig)}
    assert set(AlignmentParams.model_fields) - {"enabled"} == aligner


def test_augmentation_config_leaves_the_copy_plan_out():
    params = AugmentationParams(copies=3, rotation_deg=5.0)
    assert augmentation_config(params) == AugmentationConfig(rotation_deg=5.0)


def test_a_library_field_without_a_parameter_is_an_error():
    @dataclass(frozen=True)
    class Settings:
        rotation_deg: float
        shear: float = 0.0

    with pytest.raises(TypeError, match="shear"):
        library_config(Settings, AugmentationParams())
    assert library_config(Settings, AugmentationParams(), shear=1.0) == Settings(10.0, 1.0)

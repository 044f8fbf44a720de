"""The library configs built from the typed parameters equal what the hand-written readers
built from the parameter dicts, for conf/base and every environment."""

from pathlib import Path

import numpy as np
import pytest
from kedro.config import OmegaConfigLoader

from expression_nas.experiments import darts_fer, rnas_mer
from expression_nas.experiments.library_configs import (
    alignment_config,
    augmentation_config,
    darts_search_config,
    optimizer_config,
    rnas_search_config,
    search_settings,
    stn_settings,
)
from expression_nas.nas.search_loop import SearchSettings
from expression_nas.nas.stn_search import StnSettings
from expression_nas.parameters import check_parameters
from expression_nas.preprocessing.alignment import AlignmentConfig
from expression_nas.preprocessing.augmentation import AugmentationConfig
from expression_nas.settings import CONFIG_LOADER_ARGS
from expression_nas.training.loop import OptimizerConfig

PROJECT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("base", "casme2", "samm", "smic", "composite", "fer", "fer2013", "ckplus", "jaffe")


def _parameters(env: str) -> dict:
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env}
    )
    return loader["parameters"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rnas_configs_equal_the_old_readers(env):
    raw = _parameters(env)
    typed = check_parameters(raw)["rnas_mer"]
    raw = raw["rnas_mer"]
    for variant in rnas_mer.VARIANTS:
        old = rnas_mer.search_config({**raw, "variant": variant}, 3, 1)
        assert rnas_search_config(typed.model_copy(update={"variant": variant}), 3, 1) == old
    search = {k: v for k, v in raw["search"].items() if k != "resume"}
    assert search_settings(typed.search, typed.seed) == SearchSettings(**search, seed=raw["seed"])
    assert optimizer_config(typed.training) == OptimizerConfig.from_params(raw["training"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_darts_configs_equal_the_old_readers(env):
    raw = _parameters(env)
    typed = check_parameters(raw)["darts_fer"]
    raw = raw["darts_fer"]
    images = np.zeros((2, 48, 48), dtype=np.uint8)
    for strategy in darts_fer.STRATEGIES:
        old = darts_fer.search_config(raw, strategy, 7, images)
        assert darts_search_config(typed, strategy, 7, 1, (48, 48)) == old
    search = {k: v for k, v in raw["search"].items() if k not in ("resume", "train_portion")}
    assert search_settings(typed.search, typed.seed) == SearchSettings(**search, seed=raw["seed"])
    stn = {k: v for k, v in raw["stn"].items() if k not in ("tune_dropout", "initial_dropout")}
    assert stn_settings(typed.stn) == StnSettings(**stn)
    assert optimizer_config(typed.training) == OptimizerConfig.from_params(raw["training"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_preparation_configs_equal_the_old_readers(env):
    raw = _parameters(env)
    typed = check_parameters(raw)["data_preparation"]
    raw = raw["data_preparation"]
    for name, corpus in typed.corpora.items():
        old = {**raw["alignment"], **raw["corpora"][name].get("alignment", {})}
        enabled = old.pop("enabled", True)
        merged = corpus.alignment_over(typed.alignment)
        assert (merged.enabled, alignment_config(merged)) == (enabled, AlignmentConfig(**old))
    old = {
        k: v
        for k, v in raw["augmentation"].items()
        if k not in ("copies", "balance_classes", "seed")
    }
    assert augmentation_config(typed.augmentation) == AugmentationConfig(**old)

"""Every environment's parameters satisfy the models, the models' defaults are the demo's, and
the models keep the keys that MLflow, DVC and ``--params`` use."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import get_args

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.validation.parameter_validator import ParameterValidator
from kedro.validation.type_extractor import TypeExtractor

from expression_nas.corpora.registry import LOADERS
from expression_nas.parameters import (
    PARAMETER_MODELS,
    AlignmentParams,
    AugmentationParams,
    CorpusParams,
    DartsFerParams,
    EfficientnetFerParams,
    GlobalNasFerParams,
    RnasMerParams,
    check_parameters,
)
from expression_nas.parameters.data_preparation import LOADER_OPTIONS, CorpusKind
from expression_nas.pipeline_registry import register_pipelines
from expression_nas.preprocessing.normalization import METHODS
from expression_nas.settings import CONFIG_LOADER_ARGS

PROJECT = Path(__file__).resolve().parents[2]
#: conf/base and every environment of a real corpus (and fer, the three FER corpora together)
ENVIRONMENTS = ("base", "casme2", "samm", "smic", "composite", "fer", "fer2013", "ckplus", "jaffe")


def parameters(env: str, runtime_params: dict | None = None) -> dict:
    """The parameters of ``kedro run --env=<env>`` (soft merge over conf/base)."""
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT / "conf"),
        **{**CONFIG_LOADER_ARGS, "default_run_env": env},
        runtime_params=runtime_params,
    )
    return loader["parameters"]


@pytest.fixture(scope="module")
def typed_requirements() -> dict[str, type]:
    """Parameter key -> the model Kedro instantiates for it, over every registered pipeline."""
    return TypeExtractor(register_pipelines()).extract_types_from_pipelines()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_satisfies_the_models(env):
    raw = parameters(env)
    models = check_parameters(raw)
    assert set(models) == set(PARAMETER_MODELS) <= set(raw)
    # what kedro run does with the same parameters: every typed node argument instantiated
    validated = ParameterValidator(register_pipelines()).validate_raw_params(raw)
    assert isinstance(validated["rnas_mer"], RnasMerParams)
    assert isinstance(validated["darts_fer"], DartsFerParams)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_model_gives_back_the_keys_and_values_it_was_read_from(env):
    """What ``hooks.TypedParamsMlflowHook`` logs, flattened, under the names MLflow had."""
    raw = parameters(env)
    for key, model in check_parameters(raw).items():
        assert model.model_dump(mode="json", exclude_unset=True) == raw[key]


def test_the_defaults_are_the_demo_settings():
    base = check_parameters(parameters("base"))
    assert RnasMerParams() == base["rnas_mer"]
    assert DartsFerParams() == base["darts_fer"]
    assert EfficientnetFerParams() == base["efficientnet_fer"]
    assert GlobalNasFerParams() == base["global_nas_fer"]
    assert AlignmentParams() == base["data_preparation"].alignment
    assert AugmentationParams() == base["data_preparation"].augmentation


def test_the_seed_settings_of_the_real_corpora_arrive():
    composite = check_parameters(parameters("composite"))["rnas_mer"]
    assert (composite.search_space.layers, composite.search.epochs) == (6, 30)
    assert composite.input.onset_difference_gain is None
    assert check_parameters(parameters("casme2"))["rnas_mer"].search_groups == 4
    fer = check_parameters(parameters("fer"))["darts_fer"]
    assert (fer.search.order, fer.final_network.layers, fer.training.momentum) == (
        "second",
        20,
        0.9,
    )
    effnet = check_parameters(parameters("fer"))["efficientnet_fer"]
    assert (effnet.study.n_trials, effnet.search_training.max_epochs) == (50, 100)
    assert (effnet.search_training.patience, effnet.final_training.patience) == (10, 10)
    assert (effnet.space.width_coefficient.high, effnet.space.depth_coefficient.high) == (1.4, 1.4)
    assert effnet.search_training.max_train_images is None
    assert effnet.study.storage != EfficientnetFerParams().study.storage  # its own study
    global_nas = check_parameters(parameters("fer"))["global_nas_fer"]
    tiny = global_nas.bounds
    assert (global_nas.preset, tiny.min_depth, tiny.max_depth) == ("tiny", 10, 100)
    assert (tiny.min_width, tiny.max_width, tiny.width_step) == (16, 64, 2)
    assert (tiny.macro_epochs, tiny.micro_epochs, tiny.param_tolerance) == (10, 2, 10_000)
    assert global_nas.presets["mobile"].max_width == 128
    assert (global_nas.final_training.epochs, global_nas.random_baseline.architectures) == (600, 10)
    assert (global_nas.search_training.batch_size, global_nas.search_training.lr) == (64, 0.025)
    assert global_nas.search_training.cutout == 16 and global_nas.input_size is None
    assert global_nas.search_training.max_train_images is None
    assert global_nas.final_training.batch_size == 64
    corpus = check_parameters(parameters("casme2"))["data_preparation"].corpora["casme2"]
    assert corpus.root == "/path/to/your/casme2" and corpus.length == 152


def test_params_overrides_merge_into_the_nested_settings():
    # as the CLI passes --params rnas_mer.search.epochs=5 --params rnas_mer.variant=no_attention
    overrides = {"rnas_mer": {"search": {"epochs": 5}, "variant": "no_attention"}}
    typed = check_parameters(parameters("base", overrides))["rnas_mer"]
    assert (typed.search.epochs, typed.search.batch_size, typed.variant) == (5, 8, "no_attention")


def test_the_early_check_covers_every_typed_node_parameter(typed_requirements):
    """``check_parameters`` (the hook) validates whole top-level keys; each key Kedro then
    instantiates for a node lies inside one of them, with the same model."""
    models = check_parameters(parameters("base"))
    assert {"rnas_mer", "darts_fer", "data_preparation.alignment"} <= set(typed_requirements)
    for key, required in typed_requirements.items():
        top, *path = key.split(".")
        value = models[top]
        for part in path:
            value = value[part] if isinstance(value, dict) else getattr(value, part)
        assert type(value) is required, key


def test_the_choices_are_what_the_library_takes():
    assert set(get_args(CorpusKind)) == set(LOADERS)
    assert get_args(CorpusParams.model_fields["interpolation"].annotation) == METHODS
    for kind, options in LOADER_OPTIONS.items():
        assert options <= set(inspect.signature(LOADERS[kind]).parameters)


def _dvc_params() -> list[tuple[str, str]]:
    """(parameter file, key) of every ``params`` entry of the DVC stages, foreach filled in."""
    entries = []
    for dvc_file in ("dvc.yaml", "real_corpora/dvc.yaml"):
        for stage in yaml.safe_load((PROJECT / dvc_file).read_text())["stages"].values():
            for item in stage.get("foreach", [""]):
                for files in stage.get("do", stage)["params"]:
                    entries += [
                        (file.replace("${item}", item), key.replace("${item}", item))
                        for file, keys in files.items()
                        for key in keys
                    ]
    return entries


def test_dvc_params_keys_name_existing_settings():
    entries = _dvc_params()
    assert ("conf/base/parameters_rnas_mer.yml", "rnas_mer") in entries
    for file, key in entries:
        value = yaml.safe_load((PROJECT / file).read_text())
        for part in key.split("."):
            assert part in value, f"{file}: {key}"
            value = value[part]

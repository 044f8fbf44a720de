"""The cross_database parameters: the model's defaults are the demo's, the real corpora's
settings arrive, and wrong values are refused with their full key before any node runs."""

from __future__ import annotations

from test_parameter_errors import _problems
from test_parameter_models import parameters

from expression_nas.parameters import PARAMETER_MODELS, CrossDatabaseParams, check_parameters


def test_the_model_is_registered_and_its_defaults_are_the_demo_settings():
    assert PARAMETER_MODELS["cross_database"] is CrossDatabaseParams
    base = check_parameters(parameters("base"))["cross_database"]
    assert CrossDatabaseParams() == base
    assert base.protocols == ["direct", "target_fold"] and base.target_fold.folds == 10
    assert base.architecture.spec["family"] == "plain_cnn" and base.architecture.file is None


def test_the_real_corpora_keep_the_base_spec_and_widen_it():
    real = check_parameters(parameters("fer"))["cross_database"]
    assert real.architecture.spec == {
        **CrossDatabaseParams().architecture.spec,
        "channels": [32, 64, 128],
    }
    assert (real.training.epochs, real.training.batch_size) == (40, 64)
    assert real.target_fold.usage == ["PrivateTest"]


def test_a_spec_file_from_the_command_line_is_taken_as_given():
    override = {"cross_database": {"architecture": {"file": "data/06_models/darts_fer/x.json"}}}
    typed = check_parameters(parameters("base", override))["cross_database"]
    assert typed.architecture.file == "data/06_models/darts_fer/x.json"


def test_wrong_values_are_named_by_their_full_key():
    message = _problems(
        **{
            "cross_database.protocols": ["direct", "target-fold"],
            "cross_database.target_fold.folds": 1,
            "cross_database.architecture.overrides": {"num_classes": 3},
            "cross_database.training.epochs": 0,
        }
    )
    assert message.startswith("4 invalid parameters")
    assert "cross_database.protocols[1] = 'target-fold'" in message
    assert "did you mean 'target_fold'?" in message
    assert (
        "cross_database.target_fold.folds = 1: Input should be greater than or equal to 2"
        in message
    )
    assert "cross_database.architecture.overrides: overrides may not set ['num_classes']" in message
    assert "cross_database.training.epochs = 0" in message


def test_a_protocol_twice_or_a_spec_without_family_is_refused():
    message = _problems(
        **{
            "cross_database.protocols": ["direct", "direct"],
            "cross_database.architecture.spec": {"schema_version": 1, "channels": [8]},
            "cross_database.target_fold.usage": [],
        }
    )
    assert "cross_database.protocols = ['direct', 'direct']: a protocol is listed twice" in message
    assert (
        "cross_database.architecture.spec: a spec needs 'schema_version' and a 'family'" in message
    )
    assert "cross_database.target_fold.usage" in message

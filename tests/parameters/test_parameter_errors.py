"""Wrong parameter values are refused with every problem named by its full key, the value and
what was expected."""

from __future__ import annotations

import copy

import pytest
from test_parameter_models import parameters

from expression_nas.parameters import InvalidParametersError, check_parameters

BASE = parameters("base")


def _problems(**edits) -> str:
    """The message of ``check_parameters`` on conf/base with ``edits`` (dotted key -> value,
    or ``...`` to delete the key) applied."""
    raw = copy.deepcopy(BASE)
    for key, value in edits.items():
        *parents, last = key.split(".")
        section = raw
        for part in parents:
            section = section[part]
        if value is ...:
            del section[last]
        else:
            section[last] = value
    with pytest.raises(InvalidParametersError) as error:
        check_parameters(raw)
    return str(error.value)


def test_an_unknown_choice_names_the_key_the_value_and_the_choices():
    message = _problems(**{"rnas_mer.variant": "no_attenton"})
    assert "rnas_mer.variant = 'no_attenton'" in message
    for variant in ("rnas", "no_hybrid", "no_attention", "fixed_path", "autodeeplab3d"):
        assert f"'{variant}'" in message
    assert "did you mean 'no_attention'?" in message
    message = _problems(**{"darts_fer.evaluation.demo_ckplus.protocol": "k-fold"})
    assert "darts_fer.evaluation.demo_ckplus.protocol = 'k-fold'" in message


def test_out_of_range_values_are_refused():
    message = _problems(
        **{
            "rnas_mer.search.epochs": -1,
            "rnas_mer.validation_fraction": 1.5,
            "darts_fer.search.train_portion": 1.5,
            "darts_fer.search_space.layers": 2,
            "data_preparation.augmentation.zoom": 1.5,
        }
    )
    assert message.startswith("5 invalid parameters")
    assert "rnas_mer.search.epochs = -1: Input should be greater than or equal to 1" in message
    assert "rnas_mer.validation_fraction = 1.5: Input should be less than 1" in message
    assert "darts_fer.search.train_portion = 1.5" in message
    assert (
        "darts_fer.search_space.layers = 2: Input should be greater than or equal to 3" in message
    )
    assert "data_preparation.augmentation.zoom = 1.5" in message


def test_an_unknown_key_is_a_typo_with_a_suggestion():
    message = _problems(**{"darts_fer.search.ordr": "second", "rnas_mer.serach": {}})
    assert "darts_fer.search.ordr: unknown key (did you mean 'order'?)" in message
    assert "rnas_mer.serach: unknown key (did you mean 'search'?); rnas_mer takes " in message


def test_a_corpus_entry_is_named_in_full():
    message = _problems(
        **{
            "data_preparation.corpora.demo_samm.length": 0,
            "data_preparation.corpora.demo_samm.alignment": {"sise": 48},
            "data_preparation.corpora.demo_smic.classes": ["negative", "positiv"],
            "data_preparation.corpora.casme2.classes": ...,
            "data_preparation.corpora.demo_composite.root": {"casme2": "a", "sam": "b"},
        }
    )
    assert "data_preparation.corpora.demo_samm.length = 0" in message
    assert "data_preparation.corpora.demo_samm.alignment.sise: unknown key" in message
    assert "data_preparation.corpora.demo_smic: classes ['positiv'] are not labels" in message
    assert "data_preparation.corpora.casme2.classes: missing" in message
    assert "data_preparation.corpora.demo_composite.root.sam: unknown key" in message
    # the mapping is not also reported as "not a valid string" (the other member of the union)
    assert "valid string" not in message


def test_checks_across_fields():
    message = _problems(
        **{
            "rnas_mer.search_space.partial_channel_k": 3,
            "rnas_mer.search_groups": 1,
            "rnas_mer.checkpoint_dir": "data/{method}",
            "darts_fer.stn.sigma_init": 5.0,
            "data_preparation.corpora.demo_jaffe.loader": {"variant": "raw"},
            "data_preparation.corpora.demo_jaffe.length": 16,
        }
    )
    assert "rnas_mer.search_space: partial_channel_k (3) must divide channels (4)" in message
    assert "rnas_mer.search_groups = 1: expected 'by_source' or an integer" in message
    assert "rnas_mer.checkpoint_dir = 'data/{method}': unknown placeholder(s) ['method']" in message
    assert "darts_fer.stn: need sigma_min <= sigma_init <= sigma_max" in message
    assert "data_preparation.corpora.demo_jaffe: loader options ['variant'] do not apply" in message


def test_global_nas_fer_refuses_an_unknown_preset_and_bounds_off_the_width_grid():
    message = _problems(**{"global_nas_fer.preset": "tinyy"})
    assert "global_nas_fer.preset = 'tinyy': expected a key of presets: demo, mobile, tiny" in (
        message
    )
    message = _problems(**{"global_nas_fer.presets.tiny.max_width": 63})
    assert "global_nas_fer.presets.tiny" in message and "multiple of width_step" in message

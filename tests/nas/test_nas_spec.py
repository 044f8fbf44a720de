import json
import re

import numpy as np
import pytest

from expression_nas.nas.spec import SPEC_SCHEMA_VERSION, load_spec, save_spec, validate_spec


def _spec(**overrides):
    spec = {
        "schema_version": SPEC_SCHEMA_VERSION,
        "family": "rnas_mer",
        "in_channels": 1,
        "input_size": (24, 80, 80),
        "num_classes": 3,
        "channels": 4,
        "stem_stride": (2, 2, 2),
        "levels": 3,
        "layers": 3,
        "nodes": 2,
        "use_prev_prev": True,
        "cell": [[("conv_3x3x3", 0), ("skip_connect", 1)], [("sep_conv_3x3x3", 2)]],
        "path": [0, np.int64(1), 1],
        "attention": ("none", "channel", "spatial"),
        "dropout": np.float32(0.25),
    }
    return spec | overrides


def test_validate_normalises_to_its_json_round_trip():
    spec = validate_spec(_spec())
    assert spec == json.loads(json.dumps(spec))
    assert spec["stem_stride"] == [2, 2, 2] and spec["cell"][0][0] == ["conv_3x3x3", 0]
    assert type(spec["path"][1]) is int and spec["dropout"] == 0.25


def test_save_and_load_round_trip(tmp_path):
    path = save_spec(_spec(), tmp_path / "deep" / "spec.json")
    assert load_spec(path) == validate_spec(_spec())


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"schema_version": None}, "schema_version"),
        ({"family": "darts_nope"}, "family"),
        ({"channels": 0}, "channels"),
        ({"stem_stride": [2, 2]}, "stem_stride"),
        ({"use_prev_prev": 1}, "use_prev_prev"),
        ({"cell": [[["none", 0]], [["skip_connect", 1]]]}, "cell[0]"),
        ({"cell": [[["conv_3x3x3", 3]], [["skip_connect", 1]]]}, "cell[0]"),
        ({"path": [0, 2, 2]}, "path"),
        ({"path": [0, 1]}, "path"),
        ({"attention": ["none", "none", "cbam"]}, "attention"),
        ({"dropout": 1.5}, "dropout"),
        ({"input_size": [24, 80]}, "input_size"),
        ({"extra": {1: 2}}, "extra"),
        ({"extra": object()}, "extra"),
        ({"extra": float("nan")}, "extra"),
    ],
)
def test_invalid_specs_name_the_key(overrides, key):
    with pytest.raises(ValueError, match=re.escape(f"'{key}")):
        validate_spec(_spec(**overrides))


def test_unknown_family_lists_known_ones():
    with pytest.raises(ValueError, match="rnas_mer"):
        validate_spec(_spec(family="unknown"))


def test_prev_prev_input_only_with_use_prev_prev():
    with pytest.raises(ValueError, match="cell"):
        validate_spec(_spec(use_prev_prev=False))
    spec = _spec(use_prev_prev=False, cell=[[["conv_1x1x1", 1]], [["skip_connect", 2]]])
    assert validate_spec(spec)["use_prev_prev"] is False


def test_not_a_mapping():
    with pytest.raises(ValueError, match="mapping"):
        validate_spec([1, 2])

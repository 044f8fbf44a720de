"""The ``efficientnet`` family: torchvision's EfficientNetV2-S exactly at its own settings, the
scaling and rounding rules, the scaled-down and one-channel variants at 48x48."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torchvision.models import efficientnet_v2_s
from torchvision.models.efficientnet import FusedMBConv, MBConv

from expression_nas.evaluation.profiling import count_parameters
from expression_nas.models.efficientnet_net import (
    V2_S_STAGES,
    efficientnet_spec,
    scaled_channels,
    scaled_layers,
    stage_settings,
)
from expression_nas.models.registry import build_model

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_the_canonical_v2_s_has_torchvisions_parameter_count_exactly():
    spec = efficientnet_spec(3, 1000, variant="full", top_filters=1280)
    ours = build_model(spec)
    assert count_parameters(ours) == 21_458_488 == count_parameters(efficientnet_v2_s())
    # the same layers, in the same order, as torchvision's own builder
    shapes = [tuple(p.shape) for p in ours.parameters()]
    assert shapes == [tuple(p.shape) for p in efficientnet_v2_s().parameters()]


def test_the_stage_table_is_v2_s_and_uses_torchvisions_blocks():
    assert [row[1:] for row in V2_S_STAGES] == [
        (1, 3, 1, 24, 2),
        (4, 3, 2, 48, 4),
        (4, 3, 2, 64, 4),
        (4, 3, 2, 128, 6),
        (6, 3, 1, 160, 9),
        (6, 3, 2, 256, 15),
    ]
    network = build_model(efficientnet_spec(1, 7, variant="full", top_filters=64))
    stages = list(network.features)[1:-1]
    assert [type(stage[0]) for stage in stages] == [FusedMBConv] * 3 + [MBConv] * 3
    assert [len(stage) for stage in stages] == [2, 4, 4, 6, 9, 15]


@pytest.mark.parametrize(
    ("channels", "width", "expected"),
    [(24, 1.0, 24), (24, 0.5, 16), (24, 0.2, 8), (48, 0.35, 16), (64, 0.75, 48), (256, 1.4, 360)],
)
def test_width_rounds_to_the_nearest_multiple_of_eight(channels, width, expected):
    # round(c * w / 8) * 8, at least 8, bumped by 8 when it would lose more than 10 %
    assert scaled_channels(channels, width) == expected
    assert expected % 8 == 0 and expected >= 0.9 * channels * width


@pytest.mark.parametrize(
    ("layers", "depth", "expected"), [(2, 0.2, 1), (4, 0.5, 2), (9, 0.3, 3), (15, 1.25, 19)]
)
def test_depth_rounds_up(layers, depth, expected):
    assert scaled_layers(layers, depth) == expected == math.ceil(layers * depth - 1e-9)


def test_fused_stages_are_scaled_by_the_same_rules_as_mbconv_stages():
    width, depth = 0.35, 0.5
    settings = stage_settings(6, width, depth)
    previous = 24
    for config, (_, expansion, kernel, stride, channels, layers) in zip(
        settings, V2_S_STAGES, strict=True
    ):
        assert (config.expand_ratio, config.kernel, config.stride) == (expansion, kernel, stride)
        assert config.input_channels == scaled_channels(previous, width)
        assert config.out_channels == scaled_channels(channels, width)
        assert config.num_layers == scaled_layers(layers, depth)
        previous = channels


def test_scaled_down_and_one_channel_variants_at_48x48():
    spec = efficientnet_spec(
        1,
        7,
        width_coefficient=0.5,
        depth_coefficient=0.5,
        top_filters=24,
        dropout=0.3,
    )
    network = build_model(spec)
    assert len(network.features) == 1 + 4 + 1  # stem, stages 1-4, head convolution
    assert network.features[0][0].in_channels == 1
    assert network.features[0][0].out_channels == scaled_channels(24, 0.5)
    assert network.features[-1][0].out_channels == 24  # numTopFilters, unscaled
    assert network.classifier[0].p == 0.3 and network.classifier[1].in_features == 24
    network.eval()
    with torch.no_grad():
        assert network(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
        # four stride-2 steps: 48 -> 3
        assert network.features(torch.zeros(1, 1, 48, 48)).shape == (1, 24, 3, 3)
    colour = build_model({**spec, "in_channels": 3, "stages": 6})
    with torch.no_grad():
        assert colour.eval()(torch.zeros(1, 3, 48, 48)).shape == (1, 7)
    assert count_parameters(colour) > count_parameters(network)


def test_the_spec_survives_json_and_bad_keys_are_named():
    spec = efficientnet_spec(1, 7, width_coefficient=0.25, depth_coefficient=0.3, top_filters=40)
    rebuilt = build_model(json.loads(json.dumps(spec)))
    assert count_parameters(rebuilt) == count_parameters(build_model(spec))
    for key, value in (("in_channels", 2), ("stages", 7), ("width_coefficient", 0), ("dropout", 1)):
        with pytest.raises(ValueError, match=key):
            build_model({**spec, key: value})
    with pytest.raises(ValueError, match="variant"):
        efficientnet_spec(1, 7, variant="tiny")

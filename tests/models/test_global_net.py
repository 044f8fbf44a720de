"""The "global" family (seed 004): plain feed-forward networks rebuilt from their spec."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from expression_nas.models.global_net import (
    GlobalNetwork,
    count_global_parameters,
    global_spec,
    layer_channels,
    reduction_layers,
)
from expression_nas.models.registry import build_model
from expression_nas.nas.spec import validate_spec


def test_reductions_sit_at_a_third_and_two_thirds_and_double_the_channels():
    assert reduction_layers(9) == {3, 6} and reduction_layers(10) == {3, 6}
    assert reduction_layers(4) == {1, 2} and reduction_layers(2) == {0, 1}
    plan = layer_channels(8, 9)
    assert [out for _, out, _ in plan] == [8, 8, 8, 16, 16, 16, 32, 32, 32]
    assert [stride for _, _, stride in plan] == [1, 1, 1, 2, 1, 1, 2, 1, 1]
    assert plan[0][0] == 16  # the stem has 2C channels


@pytest.mark.parametrize(
    "layers",
    [
        [["sep", 3]] * 5,
        [["conv", 3], ["sep", 5], ["conv", 5], ["sep", 3]],
        [["conv", 5]] * 10,
        [["sep", 3]],
    ],
)
@pytest.mark.parametrize("in_channels", [1, 3])
def test_the_parameter_count_is_the_built_networks(layers, in_channels):
    spec = global_spec(in_channels, 7, 6, layers)
    model = build_model(spec)
    assert isinstance(model, GlobalNetwork)
    assert count_global_parameters(spec) == sum(p.numel() for p in model.parameters())
    logits = model(torch.randn(2, in_channels, 24, 24))
    assert logits.shape == (2, 7)


def test_the_network_is_plain_feed_forward():
    model = build_model(global_spec(1, 7, 4, [["sep", 3], ["conv", 5], ["sep", 5]]))
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Sequential, nn.AdaptiveAvgPool2d, nn.Linear)
    assert all(isinstance(m, (GlobalNetwork, *allowed)) for m in model.modules())
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 1
    separable = model.layers[0][1]
    assert separable[0].groups == separable[0].in_channels == 8  # depthwise, then pointwise
    assert separable[1].kernel_size == (1, 1)
    assert model.layers[1][1].kernel_size == (5, 5) and model.layers[1][1].stride == (2, 2)
    assert [type(m) for m in model.layers[2]] == [nn.ReLU, nn.Sequential, nn.BatchNorm2d]


def test_a_spec_survives_its_json_round_trip_and_bad_keys_are_named():
    spec = global_spec(1, 7, 16, [("sep", 3), ("conv", 5)])
    assert validate_spec(json.loads(json.dumps(spec))) == spec
    with pytest.raises(ValueError, match="'layers'"):
        build_model({**spec, "depth": 3})
    with pytest.raises(ValueError, match=r"'layers\[1\]'"):
        build_model({**spec, "layers": [["sep", 3], ["dil", 3]]})
    with pytest.raises(ValueError, match="'width'"):
        build_model({**spec, "width": 0})

"""The networks of seed 001 and their one-convolution surrogates (``surrogate`` family)."""

from __future__ import annotations

import json

import pytest
import torch

from expression_nas.evaluation.profiling import count_flops
from expression_nas.models.registry import build_model
from expression_nas.models.surrogate_net import (
    DropConnectLinear,
    FeatureDropout,
    SparseNetwork,
    surrogate_spec,
)


@pytest.mark.parametrize(("backbone", "size"), [("lenet", 28), ("resnet20", 28), ("mresnet", 32)])
def test_original_and_surrogate_share_the_head_and_the_last_feature_map(backbone, size):
    original = build_model(json.loads(json.dumps(surrogate_spec(backbone, 7, 1, size))))
    surrogate = build_model(surrogate_spec(backbone, 7, 1, size, part="surrogate"))
    assert isinstance(original, SparseNetwork)
    images = torch.rand(3, 1, size, size)
    with torch.no_grad():
        ours, theirs = original.eval().outputs(images), surrogate.eval().outputs(images)
        assert original.trunk(images).shape == surrogate.trunk(images).shape
    for name in ("z", "x", "logits"):
        assert getattr(ours, name).shape == getattr(theirs, name).shape
    assert ours.logits.shape == (3, 7)
    assert len(list(surrogate.trunk.modules())) < len(list(original.trunk.modules()))
    assert original.head.V.shape == surrogate.head.V.shape


def test_the_seed_surrogate_convolutions_and_costs_at_28x28():
    lenet = build_model(surrogate_spec("lenet", 7, 1, 28, part="surrogate"))
    assert lenet.trunk(torch.zeros(1, 1, 28, 28)).shape == (1, 50, 4, 4)
    conv = lenet.trunk.conv
    assert (conv.kernel_size, conv.stride, conv.padding) == ((7, 7), (7, 7), (0, 0))
    original = build_model(surrogate_spec("resnet20", 7, 1, 28))
    surrogate = build_model(surrogate_spec("resnet20", 7, 1, 28, part="surrogate"))
    assert surrogate.trunk(torch.zeros(1, 1, 28, 28)).shape == (1, 64, 7, 7)
    # Seed 001 sec. 3.4: T_ori about 3.1e7 and T_sur about 1.14e5 multiply-adds per sample.
    original_macs = count_flops(original.trunk, (1, 1, 28, 28)) / 2
    surrogate_macs = count_flops(surrogate.trunk, (1, 1, 28, 28)) / 2
    assert original_macs == pytest.approx(3.1e7, rel=0.05)
    assert surrogate_macs == pytest.approx(1.14e5, rel=0.05)


def test_resnet20_has_one_fc_layer_and_no_x_or_w_dropout():
    net = build_model(surrogate_spec("resnet20", 7, 1, 28, dropout={"z": 0.2, "V": 0.3}))
    assert net.head.fc2 is None and net.head.W is None
    with pytest.raises(ValueError, match="spec key 'dropout'"):
        build_model(surrogate_spec("resnet20", 7, 1, 28, dropout={"x": 0.2}))


def test_feature_dropout_rescales_kept_units_in_training_and_is_the_identity_at_test():
    torch.manual_seed(0)
    dropout = FeatureDropout(0.3)
    features = torch.full((200, 50), 2.0)
    trained = dropout.train()(features)
    kept = trained != 0
    assert torch.allclose(trained[kept], torch.tensor(2.0 / 0.7))
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.02)
    # the expectation in training is what the test sees: eq. 7's weighting by 1 - p of the
    # unscaled units, with the factor in the weights
    assert trained.mean().item() == pytest.approx(2.0, rel=0.03)
    assert torch.equal(dropout.eval()(features), features)


def test_dropconnect_masks_and_rescales_weights_in_training_and_keeps_them_at_test():
    torch.manual_seed(0)
    layer = DropConnectLinear(100, 80, p=0.4)
    weights = layer.weight.detach().clone()
    masked = layer.train().effective_weight().detach()
    kept = masked != 0
    assert torch.allclose(masked[kept], weights[kept] / 0.6)
    assert kept.float().mean().item() == pytest.approx(0.6, abs=0.03)
    assert torch.equal(layer.eval().effective_weight(), layer.weight)
    inputs = torch.rand(4, 100)
    assert torch.allclose(layer(inputs), inputs @ weights.T + layer.bias)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"backbone": "vgg"}, "backbone"),
        ({"part": "both"}, "part"),
        ({"input_size": 8}, "input_size"),
        ({"dropout": {"z": 1.0}}, "dropout.z"),
    ],
)
def test_a_bad_surrogate_spec_names_its_key(change, key):
    with pytest.raises(ValueError, match=f"spec key '{key}'"):
        build_model(surrogate_spec("lenet", 7) | change)

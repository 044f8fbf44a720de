"""The fixed reference network (``plain_cnn`` spec family)."""

from __future__ import annotations

import json

import pytest
import torch

from expression_nas.models.plain_cnn_net import PlainCnn, plain_cnn_spec
from expression_nas.models.registry import build_model


def test_a_plain_cnn_is_rebuilt_from_its_json_spec_alone():
    spec = json.loads(json.dumps(plain_cnn_spec(in_channels=1, num_classes=7)))
    model = build_model(spec)
    assert isinstance(model, PlainCnn)
    logits = model.eval()(torch.rand(3, 1, 48, 48))
    assert logits.shape == (3, 7)
    colour = build_model(plain_cnn_spec(in_channels=3, num_classes=8, channels=(4, 8)))
    assert colour(torch.rand(2, 3, 40, 40)).shape == (2, 8)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"channels": []}, "channels"),
        ({"num_classes": 0}, "num_classes"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_a_bad_plain_cnn_spec_names_its_key(change, key):
    with pytest.raises(ValueError, match=f"spec key '{key}'"):
        build_model(plain_cnn_spec(in_channels=1, num_classes=7) | change)

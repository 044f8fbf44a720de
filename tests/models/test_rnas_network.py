import copy
import json

import pytest
import torch

from expression_nas.models.registry import build_model
from expression_nas.models.rnas_net import RnasNetwork
from expression_nas.nas.rnas.search_space import RnasSearchConfig, RnasSupernet
from expression_nas.nas.spec import load_spec, save_spec


@pytest.fixture(scope="module")
def spec():
    torch.manual_seed(1)
    config = RnasSearchConfig(layers=4, nodes=3, channels=4, dropout=0.2, input_size=(24, 80, 80))
    return RnasSupernet(config).derive()


def test_spec_round_trip_rebuilds_identical_networks(spec, tmp_path):
    assert spec == json.loads(json.dumps(spec))
    loaded = load_spec(save_spec(spec, tmp_path / "spec.json"))
    assert loaded == spec
    first, second = build_model(loaded), build_model(load_spec(tmp_path / "spec.json"))
    first.train()
    first(torch.randn(3, 1, 8, 12, 12))  # move the BN running statistics away from their init
    second.load_state_dict(first.state_dict())
    first.eval(), second.eval()
    x = torch.randn(2, 1, 9, 13, 11)
    with torch.no_grad():
        assert torch.equal(first(x), second(x))


@pytest.mark.parametrize("size", [(1, 1, 1), (5, 7, 9), (24, 80, 80)])
def test_any_clip_size(spec, size):
    model = RnasNetwork(spec).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, *size)).shape == (2, 3)


def test_network_follows_the_path(spec):
    model = RnasNetwork(spec)
    widths = [cell.project[0].out_channels for cell in model.cells]
    assert widths == [4 * 2**level for level in spec["path"]]
    assert len(model.cells) == spec["layers"]
    attentions = [type(module).__name__ for module in model.attentions]
    assert len(attentions) == spec["layers"]
    for cell in model.cells:  # the derived network uses affine BN everywhere
        assert all(bn.affine for bn in cell.modules() if isinstance(bn, torch.nn.BatchNorm3d))


def test_channels_last_3d_computes_the_default_layouts_function_and_gradients(spec, monkeypatch):
    torch.manual_seed(0)
    fast = RnasNetwork({**spec, "dropout": 0.0}).double()
    default = copy.deepcopy(fast).to(memory_format=torch.contiguous_format)
    x = torch.rand(2, 1, 6, 20, 20, dtype=torch.float64)
    targets = torch.tensor([0, 2])

    fast_logits = fast(x)
    torch.nn.functional.cross_entropy(fast_logits, targets).backward()
    monkeypatch.setattr(torch, "channels_last_3d", torch.contiguous_format)
    default_logits = default(x)
    torch.nn.functional.cross_entropy(default_logits, targets).backward()

    assert any(p.dim() == 5 and not p.is_contiguous() for p in fast.parameters())
    assert all(p.is_contiguous() for p in default.parameters())
    assert torch.allclose(fast_logits, default_logits, atol=1e-10)
    for (name, p_fast), p_default in zip(
        fast.named_parameters(), default.parameters(), strict=True
    ):
        assert torch.allclose(p_fast.grad, p_default.grad, atol=1e-9), name

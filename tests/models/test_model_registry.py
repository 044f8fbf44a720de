import pytest
import torch

from expression_nas.models.registry import MODEL_FAMILIES, build_model
from expression_nas.models.rnas_net import RnasNetwork
from expression_nas.nas.rnas.operations import PLAIN_3D_OPERATIONS
from expression_nas.nas.rnas.search_space import RnasSearchConfig, RnasSupernet


def _derived_spec(**overrides):
    settings = {"layers": 3, "nodes": 3, "channels": 4, "partial_channel_k": 2}
    return RnasSupernet(RnasSearchConfig(**(settings | overrides))).derive()


def test_unknown_family_is_refused_with_the_known_ones():
    spec = _derived_spec() | {"family": "mystery"}
    with pytest.raises(
        ValueError,
        match="known: \\['darts', 'efficientnet', 'global', 'plain_cnn', 'rnas_mer', "
        "'surrogate'\\]",
    ):
        build_model(spec)
    assert "rnas_mer" in MODEL_FAMILIES


@pytest.mark.parametrize(
    "ablation",
    [
        {},
        {"search_attention": False},
        {"search_path": False},
        {"search_path": False, "fixed_path": [1, 1, 2]},
        {"use_prev_prev": False},
        {"operations": list(PLAIN_3D_OPERATIONS)},
    ],
)
def test_build_model_on_each_ablation(ablation):
    spec = _derived_spec(**ablation)
    model = build_model(spec)
    assert isinstance(model, RnasNetwork)
    if ablation.get("search_attention") is False:
        assert spec["attention"] == ["none"] * 3
    if "fixed_path" in ablation:
        assert spec["path"] == ablation["fixed_path"]
    if "operations" in ablation:
        assert {op for node in spec["cell"] for op, _ in node} <= set(PLAIN_3D_OPERATIONS)
    if ablation.get("use_prev_prev") is False:
        assert all(source >= 1 for node in spec["cell"] for _, source in node)
        assert not any("prev_prev" in name for name in model.state_dict())
    x = torch.randn(2, 1, 7, 9, 11, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 3)
    logits.sum().backward()
    assert x.grad.abs().sum() > 0

import copy
import math
import re

import pytest
import torch
from torch import nn

from expression_nas.models.darts_net import DartsNetwork
from expression_nas.models.registry import build_model
from expression_nas.nas.darts.fast_conv import FastConv2d
from expression_nas.nas.darts.search_space import DartsSearchConfig, DartsSupernet
from expression_nas.nas.spec import load_spec, save_spec

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _spec(**overrides) -> dict:
    spec = {
        "schema_version": 1,
        "family": "darts",
        "in_channels": 1,
        "num_classes": 7,
        "input_size": [48, 48],
        "channels": 4,
        "layers": 3,
        "nodes": 2,
        "stem_multiplier": 3,
        "genotype": {
            "normal": [
                [["sep_conv_3x3", 0], ["skip_connect", 1]],
                [["dil_conv_3x3", 1], ["max_pool_3x3", 2]],
            ],
            "reduce": [
                [["avg_pool_3x3", 0], ["skip_connect", 1]],
                [["sep_conv_5x5", 0], ["dil_conv_5x5", 2]],
            ],
        },
        "dropout": 0.1,
        "cell_dropout": 0.0,
    }
    return spec | overrides


def _with_genotype(cell: str, node: int, entries: list) -> dict:
    spec = copy.deepcopy(_spec())
    spec["genotype"][cell][node] = entries
    return spec


def _without(key: str) -> dict:
    spec = _spec()
    del spec[key]
    return spec


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        (_with_genotype("normal", 0, [["conv_7x7", 0]]), "genotype.normal[0]"),
        (_with_genotype("normal", 1, [["none", 0]]), "genotype.normal[1]"),
        (_with_genotype("reduce", 0, [["sep_conv_3x3", 2]]), "genotype.reduce[0]"),
        (_with_genotype("reduce", 1, [["sep_conv_3x3", 3]]), "genotype.reduce[1]"),
        (_with_genotype("reduce", 1, [["sep_conv_3x3", -1]]), "genotype.reduce[1]"),
        (_with_genotype("reduce", 1, [["sep_conv_3x3"]]), "genotype.reduce[1]"),
        (_with_genotype("normal", 1, []), "genotype.normal[1]"),
        (_spec(nodes=3), "genotype.normal"),
        (_spec(genotype={"normal": _spec()["genotype"]["normal"]}), "genotype"),
        (_without("genotype"), "genotype"),
        (_without("channels"), "channels"),
        (_without("nodes"), "nodes"),
        (_spec(layers=0), "layers"),
        (_spec(input_size=[48]), "input_size"),
        (_spec(dropout=1.0), "dropout"),
        (_spec(cell_dropout=-0.1), "cell_dropout"),
    ],
)
def test_invalid_specs_are_refused_naming_the_key(spec, key):
    for build in (build_model, DartsNetwork):
        with pytest.raises(ValueError, match=re.escape(f"spec key '{key}'")):
            build(spec)


def test_a_valid_hand_written_spec_builds():
    model = build_model(_spec())
    assert isinstance(model, DartsNetwork)
    assert model(torch.randn(2, 1, 48, 48)).shape == (2, 7)


def test_spec_json_round_trip_builds_the_same_network(tmp_path):
    torch.manual_seed(0)
    searched = DartsSupernet(
        DartsSearchConfig(
            channels=2, layers=3, nodes=3, stn=True, tune_dropout=True, arch_init_scale=1.0
        )
    ).derive()
    assert isinstance(searched["dropout"], float)
    path = save_spec(searched, tmp_path / "nested" / "darts.json")
    loaded = load_spec(path)
    assert loaded == searched
    original, rebuilt = build_model(searched).eval(), build_model(loaded).eval()
    assert list(original.state_dict()) == list(rebuilt.state_dict())
    rebuilt.load_state_dict(original.state_dict())
    x = torch.randn(2, 1, 20, 20)
    with torch.no_grad():
        assert torch.equal(original(x), rebuilt(x))
    assert rebuilt.dropout.p == pytest.approx(searched["dropout"])
    assert rebuilt.cell_dropout == pytest.approx(searched["cell_dropout"])


def _cell_outputs(model: DartsNetwork, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes = []
    hooks = [
        cell.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
        for cell in model.cells
    ]
    model(x)
    for hook in hooks:
        hook.remove()
    return shapes


def test_reduction_cells_halve_the_resolution_and_double_the_channels():
    model = build_model(_spec(layers=5))  # reductions at 5 // 3 = 1 and 2 * 5 // 3 = 3
    assert [cell.reduction for cell in model.cells] == [False, True, False, True, False]
    shapes = _cell_outputs(model, torch.randn(2, 1, 48, 48))
    nodes, c = 2, 4
    assert shapes == [
        (2, nodes * c, 48, 48),
        (2, nodes * 2 * c, 24, 24),
        (2, nodes * 2 * c, 24, 24),
        (2, nodes * 4 * c, 12, 12),
        (2, nodes * 4 * c, 12, 12),
    ]


@pytest.mark.parametrize("size", [(48, 48), (17, 23), (5, 9), (64, 40)])
def test_any_input_size_works(size):
    model = build_model(_spec(in_channels=3, num_classes=4)).eval()
    x = torch.randn(2, 3, *size)
    shapes = _cell_outputs(model, x)
    # cells 1 and 2 reduce, each taking (h, w) to (ceil(h / 2), ceil(w / 2))
    half = tuple(math.ceil(n / 2) for n in size)
    quarter = tuple(math.ceil(n / 2) for n in half)
    assert [shape[2:] for shape in shapes] == [size, half, quarter]
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()


def test_cell_dropout_acts_in_training_only():
    model = build_model(_spec(cell_dropout=0.5, dropout=0.5))
    x = torch.randn(2, 1, 12, 12)
    model.train()
    torch.manual_seed(0)
    first = model(x)
    torch.manual_seed(1)
    assert not torch.allclose(first, model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_fast_convolutions_compute_the_plain_networks_function_and_gradients():
    """The derived network's ``FastConv2d`` cells in channels-last layout against the same
    network with plain ``nn.Conv2d`` in the default layout (every DARTS operation but none,
    strided and dilated ones included), in float64."""
    spec = _spec(
        dropout=0.0,
        genotype={
            "normal": [
                [["sep_conv_5x5", 0], ["dil_conv_5x5", 1]],
                [["dil_conv_3x3", 1], ["max_pool_3x3", 2]],
            ],
            "reduce": [
                [["dil_conv_5x5", 0], ["sep_conv_3x3", 1]],
                [["dil_conv_3x3", 0], ["avg_pool_3x3", 2]],
            ],
        },
    )
    torch.manual_seed(0)
    fast = DartsNetwork(spec).double()
    plain = copy.deepcopy(fast)
    swapped = 0
    for module in plain.modules():
        if isinstance(module, FastConv2d):
            module.__class__ = nn.Conv2d
            swapped += 1
    plain = plain.to(memory_format=torch.contiguous_format)
    assert swapped > 10
    assert fast.state_dict().keys() == plain.state_dict().keys()

    x = torch.rand(3, 1, 20, 20, dtype=torch.float64)
    targets = torch.tensor([0, 3, 6])
    logits = {}
    for name, model in (("fast", fast), ("plain", plain)):
        logits[name] = model(x)
        nn.functional.cross_entropy(logits[name], targets).backward()
    assert torch.allclose(logits["fast"], logits["plain"], atol=1e-10)
    for (name, p_fast), p_plain in zip(fast.named_parameters(), plain.parameters(), strict=True):
        assert torch.allclose(p_fast.grad, p_plain.grad, atol=1e-9), name

import json

import pytest
import torch

from expression_nas.nas.rnas.attention import ATTENTIONS
from expression_nas.nas.rnas.decode import cell_edges
from expression_nas.nas.rnas.operations import OPERATIONS, PLAIN_3D_OPERATIONS
from expression_nas.nas.rnas.search_space import (
    RnasSearchConfig,
    RnasSupernet,
    SearchCell,
    evenly_spread_path,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")

CLIP = (2, 1, 5, 7, 9)


def _tiny(**overrides) -> RnasSearchConfig:
    settings = {"layers": 3, "nodes": 2, "channels": 4, "partial_channel_k": 2}
    return RnasSearchConfig(**(settings | overrides))


def _forward_backward(net: RnasSupernet) -> torch.Tensor:
    logits = net(torch.randn(*CLIP))
    assert logits.shape == (CLIP[0], net.config.num_classes)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    return logits


def test_search_cell_forward_backward():
    config = _tiny(nodes=3)
    cell = SearchCell(8, config)
    alpha = torch.zeros(len(cell_edges(3)), len(OPERATIONS), requires_grad=True)
    s0, s1 = torch.randn(2, 8, 3, 4, 5), torch.randn(2, 8, 3, 4, 5, requires_grad=True)
    out = cell(s0, s1, alpha.softmax(-1))
    assert out.shape == s1.shape
    out.square().sum().backward()
    assert alpha.grad.abs().sum() > 0 and s1.grad.abs().sum() > 0


@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("recompute", [False, True])
def test_gradients_reach_every_architecture_weight_and_weights(k, recompute):
    torch.manual_seed(0)
    net = RnasSupernet(_tiny(partial_channel_k=k, checkpoint_edges=recompute))
    _forward_backward(net)
    for name in ("alpha", "beta", "eta"):
        grad = getattr(net, name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    # beta rows of the last level's 'down' transition and of unreachable levels stay at zero.
    assert not net.beta.grad[:, -1, 1].any()
    assert net.stem[0].weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.weight_parameters())


def test_parameter_partition_and_state_dict():
    net = RnasSupernet(_tiny())
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert [p.shape for p in arch] == [
        (5, len(OPERATIONS)),
        (3, 3, 2),
        (3, 3, len(ATTENTIONS)),
    ]
    ids_arch, ids_weights = {id(p) for p in arch}, {id(p) for p in weights}
    assert not ids_arch & ids_weights
    assert ids_arch | ids_weights == {id(p) for p in net.parameters()}
    state = net.state_dict()
    for name in ("alpha", "beta", "eta"):
        assert torch.equal(state[name], getattr(net, name))


def test_lattice_has_only_reachable_levels():
    net = RnasSupernet(_tiny(layers=4))
    assert net.level_sets == [[0, 1], [0, 1, 2], [0, 1, 2], [0, 1, 2]]
    assert set(net.heads) == {"0", "1", "2"}


@pytest.mark.parametrize(
    ("switch", "missing"),
    [
        ({"search_path": False}, "beta"),
        ({"search_attention": False}, "eta"),
        ({"use_prev_prev": False}, "prev_prev"),
    ],
)
def test_ablation_switches_remove_their_parameters(switch, missing):
    net = RnasSupernet(_tiny(**switch))
    _forward_backward(net)
    names = list(net.state_dict())
    assert (
        missing not in names
        if missing in ("beta", "eta")
        else not any(missing in name for name in names)
    )
    assert net.alpha.grad.abs().sum() > 0
    if missing == "prev_prev":
        assert net.alpha.shape[0] == len(cell_edges(2, use_prev_prev=False))
        assert not any("preprocess0" in name for name in names)
    spec = net.derive()
    assert spec["use_prev_prev"] is (missing != "prev_prev")
    if missing == "eta":
        assert spec["attention"] == ["none"] * 3


def test_fixed_path_defaults_to_evenly_spread_and_is_followed():
    assert evenly_spread_path(6, 3) == (0, 0, 1, 1, 2, 2)
    net = RnasSupernet(_tiny(search_path=False, layers=6))
    assert net.config.fixed_path == (0, 0, 1, 1, 2, 2)
    assert net.level_sets == [[0], [0], [1], [1], [2], [2]]
    assert net.derive()["path"] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="fixed_path"):
        _tiny(search_path=False, fixed_path=[0, 2, 2])
    with pytest.raises(ValueError, match="fixed_path"):
        _tiny(fixed_path=[0, 1, 2])


def test_plain_operations_and_config_round_trip():
    config = _tiny(operations="plain_3d", partial_channel_k=1)
    assert config.operations == PLAIN_3D_OPERATIONS
    assert RnasSearchConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    _forward_backward(RnasSupernet(config))
    with pytest.raises(ValueError, match="unknown RNAS search settings"):
        RnasSearchConfig.from_dict({"chanels": 4})
    with pytest.raises(ValueError, match="partial_channel_k"):
        _tiny(channels=6, partial_channel_k=4)


def test_arch_snapshot_is_softmaxed_nested_lists():
    snapshot = RnasSupernet(_tiny()).arch_snapshot()
    assert set(snapshot) == {"alpha", "beta", "eta"}
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert all(abs(sum(row) - 1) < 1e-6 for row in snapshot["alpha"])
    assert snapshot["beta"][0][2] == [1.0, 0.0]  # the last level can only stay


def test_derive_on_hand_set_architecture():
    net = RnasSupernet(_tiny(layers=4))
    ops = list(net.config.operations)
    with torch.no_grad():
        net.alpha.zero_()
        net.alpha[:, ops.index("none")] = 10.0  # must never be picked
        edges = cell_edges(2)
        net.alpha[edges.index((0, 1)), ops.index("conv_2plus1d_3")] = 5.0
        net.alpha[edges.index((0, 0)), ops.index("skip_connect")] = 4.0
        net.alpha[edges.index((1, 2)), ops.index("temporal_conv_3x1x1")] = 5.0
        net.alpha[edges.index((1, 0)), ops.index("conv_1x1x1")] = 4.5
        net.alpha[edges.index((1, 1)), ops.index("conv_5x5x5")] = 3.0
        net.beta.zero_()
        net.beta[:, :, 0] = 3.0  # prefer 'same' ...
        net.beta[1, 0] = torch.tensor([0.0, 5.0])  # ... except down at layer 1
        net.eta.zero_()
        net.eta[:, :, ATTENTIONS.index("channel_spatial")] = 2.0
        net.eta[3, 1, ATTENTIONS.index("spatial")] = 5.0
    spec = net.derive()
    assert spec["cell"] == [
        [["skip_connect", 0], ["conv_2plus1d_3", 1]],
        [["conv_1x1x1", 0], ["temporal_conv_3x1x1", 2]],
    ]
    assert spec["path"] == [0, 1, 1, 1]
    assert spec["attention"] == ["channel_spatial"] * 3 + ["spatial"]
    assert spec == json.loads(json.dumps(spec))


def test_device_agnostic_and_no_growth_across_steps():
    net = RnasSupernet(_tiny())
    before = len(net.state_dict())
    for _ in range(2):
        _forward_backward(net)
        net.zero_grad(set_to_none=True)
    assert len(net.state_dict()) == before
    net.to(torch.float64)
    assert net(torch.randn(*CLIP, dtype=torch.float64)).dtype == torch.float64

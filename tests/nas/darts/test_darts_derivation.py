import numpy as np
import pytest
import torch

from expression_nas.nas.darts.derive import derive_cell
from expression_nas.nas.darts.operations import PRIMITIVES, cell_edges
from expression_nas.nas.darts.search_space import DartsSearchConfig, DartsSupernet

OPS = list(PRIMITIVES)


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _weights(nodes: int, settings: dict[tuple[int, int], dict[str, float]]) -> np.ndarray:
    """Rows in ``cell_edges`` order, 0.01 everywhere except the (node, source) entries given."""
    edges = cell_edges(nodes)
    weights = np.full((len(edges), len(OPS)), 0.01)
    for (node, source), values in settings.items():
        row = edges.index((node, source))
        for name, value in values.items():
            weights[row, OPS.index(name)] = value
    return weights


def test_cell_edges_order():
    assert cell_edges(3) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2), (2, 3)]


def test_two_strongest_edges_per_node_with_their_best_operation_and_never_none():
    weights = _weights(
        3,
        {
            # node 0 has two edges, both kept; "none" is the largest on edge 0 but skipped
            (0, 0): {"none": 0.9, "sep_conv_3x3": 0.05},
            (0, 1): {"max_pool_3x3": 0.3, "avg_pool_3x3": 0.2},
            # node 1: the edge from node 0 (source 2) has the largest weight of all, on
            # "none": it is the weakest edge once "none" is ignored, so it is dropped
            (1, 0): {"dil_conv_5x5": 0.2},
            (1, 1): {"avg_pool_3x3": 0.6, "sep_conv_5x5": 0.1},
            (1, 2): {"none": 0.99, "sep_conv_5x5": 0.04},
            # node 2: the two edges from the intermediate nodes win
            (2, 0): {"sep_conv_3x3": 0.1},
            (2, 1): {"max_pool_3x3": 0.15},
            (2, 2): {"dil_conv_3x3": 0.5, "skip_connect": 0.45},
            (2, 3): {"none": 0.99, "sep_conv_5x5": 0.45},
        },
    )
    genotype = derive_cell(weights, PRIMITIVES, nodes=3)
    assert genotype == [
        [["sep_conv_3x3", 0], ["max_pool_3x3", 1]],
        [["dil_conv_5x5", 0], ["avg_pool_3x3", 1]],
        [["dil_conv_3x3", 2], ["sep_conv_5x5", 3]],
    ]
    assert all(name != "none" for node in genotype for name, _ in node)


def test_none_is_never_chosen_even_when_dominant_everywhere():
    nodes = 4
    weights = np.random.default_rng(0).uniform(0.0, 0.1, (len(cell_edges(nodes)), len(OPS)))
    weights[:, OPS.index("none")] = 1.0
    genotype = derive_cell(weights, PRIMITIVES, nodes)
    assert len(genotype) == nodes
    for node, entries in enumerate(genotype):
        assert len(entries) == 2
        sources = [source for _, source in entries]
        assert sources == sorted(sources) and len(set(sources)) == 2
        assert all(0 <= source < node + 2 for source in sources)
        for name, source in entries:
            assert name != "none"
            row = weights[cell_edges(nodes).index((node, source))]
            best = max((i for i in range(len(OPS)) if OPS[i] != "none"), key=row.__getitem__)
            assert name == OPS[best]


def test_inputs_per_node():
    weights = _weights(2, {(1, 0): {"sep_conv_3x3": 0.5}, (1, 1): {"max_pool_3x3": 0.4}})
    genotype = derive_cell(weights, PRIMITIVES, 2, inputs_per_node=1)
    assert genotype[1] == [["sep_conv_3x3", 0]]


def _skip_heavy_weights() -> np.ndarray:
    """A 3-node cell whose six kept edges all prefer skip_connect, with distinct strengths;
    each skip edge's best other operation (besides none) is known."""
    return _weights(
        3,
        {
            (0, 0): {"skip_connect": 0.50, "sep_conv_3x3": 0.20, "none": 0.9},
            (0, 1): {"skip_connect": 0.80, "dil_conv_3x3": 0.30},
            (1, 0): {"skip_connect": 0.40, "avg_pool_3x3": 0.10},
            (1, 1): {"sep_conv_5x5": 0.30},  # the weakest edge of node 1: dropped
            (1, 2): {"skip_connect": 0.90, "max_pool_3x3": 0.25},
            (2, 0): {"dil_conv_5x5": 0.05},
            (2, 1): {"skip_connect": 0.60, "dil_conv_5x5": 0.35, "none": 0.99},
            (2, 2): {"sep_conv_3x3": 0.45},
            (2, 3): {"avg_pool_3x3": 0.02},
        },
    )


def test_skip_guard_off_keeps_every_skip():
    genotype = derive_cell(_skip_heavy_weights(), PRIMITIVES, 3, max_skip_connect=None)
    assert genotype == [
        [["skip_connect", 0], ["skip_connect", 1]],
        [["skip_connect", 0], ["skip_connect", 2]],
        [["skip_connect", 1], ["sep_conv_3x3", 2]],
    ]


@pytest.mark.parametrize(
    ("limit", "kept_skips"),
    [
        (0, []),
        (1, [(1, 2)]),  # strengths: (1, 2) .9 > (0, 1) .8 > (2, 1) .6 > (0, 0) .5 > (1, 0) .4
        (2, [(1, 2), (0, 1)]),
        (3, [(1, 2), (0, 1), (2, 1)]),
        (5, [(1, 2), (0, 1), (2, 1), (0, 0), (1, 0)]),
    ],
)
def test_skip_guard_keeps_the_strongest_skips_and_replaces_the_others(limit, kept_skips):
    weights = _skip_heavy_weights()
    unguarded = derive_cell(weights, PRIMITIVES, 3, max_skip_connect=None)
    guarded = derive_cell(weights, PRIMITIVES, 3, max_skip_connect=limit)
    replacement = {
        (0, 0): "sep_conv_3x3",  # not "none", although none is larger
        (0, 1): "dil_conv_3x3",
        (1, 0): "avg_pool_3x3",
        (1, 2): "max_pool_3x3",
        (2, 1): "dil_conv_5x5",
    }
    skips = []
    for node, (before, after) in enumerate(zip(unguarded, guarded, strict=True)):
        # the guard never moves an edge: same sources, only operations change
        assert [s for _, s in before] == [s for _, s in after]
        for (old, source), (new, _) in zip(before, after, strict=True):
            if new == "skip_connect":
                skips.append((node, source))
            elif old == "skip_connect":
                assert new == replacement[(node, source)]
            else:
                assert new == old
    assert sorted(skips) == sorted(kept_skips)


def test_skip_guard_ignored_when_skip_is_not_an_operation():
    operations = [name for name in OPS if name != "skip_connect"]
    weights = np.random.default_rng(1).uniform(size=(len(cell_edges(2)), len(operations)))
    assert derive_cell(weights, operations, 2, max_skip_connect=0) == derive_cell(
        weights, operations, 2, max_skip_connect=None
    )


@pytest.mark.parametrize(("rows", "columns", "nodes"), [(5, 8, 3), (9, 7, 3), (9, 8, 2)])
def test_shape_mismatch_raises(rows, columns, nodes):
    with pytest.raises(ValueError, match="expected"):
        derive_cell(np.ones((rows, columns)), PRIMITIVES, nodes)


def test_supernet_guards_the_normal_cell_only():
    torch.manual_seed(0)
    net = DartsSupernet(DartsSearchConfig(channels=2, layers=3, nodes=4, max_skip_connect=2))
    with torch.no_grad():
        for alphas in (net.alphas_normal, net.alphas_reduce):
            alphas.normal_(0.0, 0.01)
            alphas[:, OPS.index("skip_connect")] += 3.0
    genotype = net.derive()["genotype"]
    count = {
        cell: sum(op == "skip_connect" for node in genotype[cell] for op, _ in node)
        for cell in genotype
    }
    assert count == {"normal": 2, "reduce": 8}

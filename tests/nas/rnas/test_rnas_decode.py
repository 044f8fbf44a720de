import numpy as np
import pytest

from expression_nas.nas.rnas.decode import DOWN, SAME, cell_edges, derive_cell, viterbi_path


def _betas(layers, levels, p_down=0.1):
    probs = np.zeros((layers, levels, 2))
    probs[:, :, SAME], probs[:, :, DOWN] = 1 - p_down, p_down
    probs[:, -1] = (1.0, 0.0)
    return probs


def _greedy(probs):
    level, path = 0, []
    for layer in range(probs.shape[0]):
        can_go_down = level < probs.shape[1] - 1
        level += int(can_go_down and probs[layer, level, DOWN] > probs[layer, level, SAME])
        path.append(level)
    return path


def test_viterbi_follows_strong_down_transitions():
    probs = _betas(6, 3)
    probs[2, 0] = (0.01, 0.99)
    probs[4, 1] = (0.01, 0.99)
    assert viterbi_path(probs, 3) == [0, 0, 1, 1, 2, 2]


def test_viterbi_beats_greedy():
    probs = _betas(3, 3, p_down=0.5)
    probs[0, 0] = (0.6, 0.4)  # greedy stays at level 0 ...
    probs[1, 0] = (0.5, 0.5)
    probs[1, 1] = (0.99, 0.01)  # ... but staying at level 1 afterwards is far more likely
    probs[2, 0] = (0.5, 0.5)
    probs[2, 1] = (0.99, 0.01)
    assert _greedy(probs) == [0, 0, 0]
    assert viterbi_path(probs, 3) == [1, 1, 1]


def test_viterbi_single_level_and_shape_check():
    assert viterbi_path(np.tile([1.0, 0.0], (4, 1, 1)), 1) == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="shape"):
        viterbi_path(np.ones((4, 2, 2)), 3)


def test_cell_edges():
    assert len(cell_edges(5)) == 20
    assert len(cell_edges(5, use_prev_prev=False)) == 15
    assert cell_edges(2) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]


def test_derive_cell_keeps_two_strongest_edges_and_never_none():
    ops = ["none", "skip_connect", "conv_3x3x3", "max_pool_3x3x3"]
    edges = cell_edges(3)
    probs = np.full((len(edges), len(ops)), 0.1)
    probs[:, 0] = 0.7  # "none" dominates every edge, yet is never chosen
    wanted = {
        (0, 0): "conv_3x3x3",
        (0, 1): "skip_connect",
        (1, 2): "max_pool_3x3x3",
        (1, 0): "conv_3x3x3",
        (2, 3): "skip_connect",
        (2, 1): "max_pool_3x3x3",
    }
    for (node, source), op in wanted.items():
        probs[edges.index((node, source)), ops.index(op)] = 0.3
    probs[edges.index((2, 3)), ops.index("conv_3x3x3")] = 0.25  # weaker than its skip
    assert derive_cell(probs, ops, 3) == [
        [["conv_3x3x3", 0], ["skip_connect", 1]],
        [["conv_3x3x3", 0], ["max_pool_3x3x3", 2]],
        [["max_pool_3x3x3", 1], ["skip_connect", 3]],
    ]


def test_derive_cell_without_prev_prev():
    ops = ["none", "conv_1x1x1"]
    genotype = derive_cell(np.full((3, 2), 0.5), ops, 2, use_prev_prev=False)
    assert genotype == [[["conv_1x1x1", 1]], [["conv_1x1x1", 1], ["conv_1x1x1", 2]]]
    with pytest.raises(ValueError, match="shape"):
        derive_cell(np.full((5, 2), 0.5), ops, 2, use_prev_prev=False)


def test_uniform_betas_do_not_dive_to_the_bottom_level():
    """The last level's forced 'same' must not act as a free bonus for reaching it early."""
    uniform = np.full((6, 3, 2), 0.5)
    uniform[:, 2] = (1.0, 0.0)  # as the supernet reports it: only 'same' is valid there
    assert viterbi_path(uniform, 3) == [0, 0, 0, 0, 0, 0]

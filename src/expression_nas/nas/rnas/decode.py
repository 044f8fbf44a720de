"""Decoding RNAS architecture weights into one discrete architecture (pure numpy).

Cell inputs are numbered 0 = c_{l-2} (output of layer l-2), 1 = c_{l-1} (output of layer l-1),
and 2 + j = intermediate node j. A genotype is a list over nodes of ``[operation, input]``
pairs, JSON-ready.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Index of the transition kinds in the last axis of beta.
SAME, DOWN = 0, 1


def cell_edges(nodes: int, use_prev_prev: bool = True) -> list[tuple[int, int]]:
    """The cell's edges as (node, input) pairs, in the row order of alpha.

    Node j receives an edge from each cell input (c_{l-2} only with ``use_prev_prev``) and from
    every earlier node.
    """
    first = 0 if use_prev_prev else 1
    return [(node, source) for node in range(nodes) for source in range(first, node + 2)]


def derive_cell(
    alpha_probs: np.ndarray,
    op_names: Sequence[str],
    nodes: int,
    use_prev_prev: bool = True,
) -> list[list[list]]:
    """DARTS' rule: per node keep the 2 incoming edges whose strongest non-"none" operation is
    strongest, each with that operation. Ties go to the earlier edge/operation."""
    probs = np.asarray(alpha_probs, dtype=float)
    edges = cell_edges(nodes, use_prev_prev)
    if probs.shape != (len(edges), len(op_names)):
        raise ValueError(
            f"alpha has shape {probs.shape}, expected {(len(edges), len(op_names))} "
            f"for {nodes} nodes, use_prev_prev={use_prev_prev}"
        )
    candidates = [i for i, name in enumerate(op_names) if name != "none"]
    if not candidates:
        raise ValueError("the operation set holds no operation other than 'none'")
    genotype = []
    for node in range(nodes):
        rows = [(edge, source) for edge, (n, source) in enumerate(edges) if n == node]
        ranked = sorted(rows, key=lambda row: -probs[row[0], candidates].max())
        kept = sorted(ranked[:2], key=lambda row: row[1])
        genotype.append(
            [
                [op_names[candidates[int(np.argmax(probs[edge, candidates]))]], source]
                for edge, source in kept
            ]
        )
    return genotype


def viterbi_path(beta_probs: np.ndarray, levels: int) -> list[int]:
    """The level per layer that maximises the product of transition probabilities.

    ``beta_probs[l, s]`` = (p_same, p_down) for the state at level ``s`` of layer l-1 (layer -1
    is the stem, at level 0) going into layer ``l``. The last level has no level below: its
    forced 'same' scores 0.5, like an even binary choice, because a probability of 1 there would
    reward paths for diving to the bottom level early. The path may end at any level. Ties
    prefer 'same' and lower levels.
    """
    probs = np.asarray(beta_probs, dtype=float)
    layers = probs.shape[0]
    if probs.shape != (layers, levels, 2) or layers == 0:
        raise ValueError(f"beta has shape {probs.shape}, expected (layers, {levels}, 2)")
    with np.errstate(divide="ignore"):
        log_probs = np.log(probs)
    log_probs[:, levels - 1, SAME] = np.log(0.5)
    score = np.full(levels, -np.inf)
    score[0] = 0.0
    came_from = np.zeros((layers, levels), dtype=int)
    for layer in range(layers):
        new_score = np.full(levels, -np.inf)
        for level in range(levels):
            same = score[level] + log_probs[layer, level, SAME]
            down = score[level - 1] + log_probs[layer, level - 1, DOWN] if level else -np.inf
            if down > same:
                new_score[level], came_from[layer, level] = down, level - 1
            else:
                new_score[level], came_from[layer, level] = same, level
        score = new_score
    if not np.isfinite(score.max()):
        raise ValueError("every path has probability zero")
    path = [int(np.argmax(score))]
    for layer in range(layers - 1, 0, -1):
        path.append(int(came_from[layer, path[-1]]))
    return path[::-1]

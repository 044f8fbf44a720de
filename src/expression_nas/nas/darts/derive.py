"""Derivation of a discrete DARTS cell from its architecture weights, with a guard against
the well-known collapse of DARTS into parameter-free skip connections.

DARTS' rule: on every edge the strongest operation other than "none"; for every intermediate
node the two incoming edges whose strongest such operation is largest.

Skip-connection guard (``max_skip_connect``): DARTS' search tends to favour skip connections
as it goes on, yielding cells with almost no convolution (Chen et al., P-DARTS; Liang et al.,
DARTS+). With the guard on, a derived cell keeps at most ``max_skip_connect`` skip
connections: the strongest ones; every other skip edge keeps its place in the cell but gets
its best operation other than "none" and "skip_connect". ``None`` turns the guard off.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from expression_nas.nas.darts.operations import cell_edges

Genotype = list[list[list]]  # per node: [[operation, source], [operation, source]]


def derive_cell(
    weights: np.ndarray,
    primitives: Sequence[str],
    nodes: int,
    max_skip_connect: int | None = None,
    inputs_per_node: int = 2,
) -> Genotype:
    """The discrete cell for softmaxed weights [edges, operations] (rows in ``cell_edges``
    order). Sources: 0 = output of cell k-2, 1 = output of cell k-1, 2.. = intermediate
    nodes."""
    weights = np.asarray(weights, dtype=float)
    edges = cell_edges(nodes)
    if weights.shape != (len(edges), len(primitives)):
        raise ValueError(
            f"architecture weights have shape {weights.shape}, expected "
            f"({len(edges)}, {len(primitives)}) for {nodes} nodes"
        )
    usable = [i for i, name in enumerate(primitives) if name != "none"]
    genotype: Genotype = []
    for node in range(nodes):
        rows = [row for row, (target, _) in enumerate(edges) if target == node]
        best_op = {row: max(usable, key=lambda col, row=row: weights[row, col]) for row in rows}
        kept = sorted(rows, key=lambda row: -weights[row, best_op[row]])[:inputs_per_node]
        genotype.append([[primitives[best_op[row]], edges[row][1], row] for row in kept])
        genotype[-1].sort(key=lambda entry: entry[1])
    if max_skip_connect is not None and "skip_connect" in primitives:
        _limit_skip_connections(genotype, weights, primitives, max_skip_connect)
    return [[[name, source] for name, source, _ in node] for node in genotype]


def _limit_skip_connections(
    genotype: list[list[list]], weights: np.ndarray, primitives: Sequence[str], limit: int
) -> None:
    """Entries are [operation, source, weight row]; edited in place."""
    skip = primitives.index("skip_connect")
    skips = sorted(
        (entry for node in genotype for entry in node if entry[0] == "skip_connect"),
        key=lambda entry: -weights[entry[2], skip],
    )
    replaceable = [i for i, name in enumerate(primitives) if name not in ("none", "skip_connect")]
    for entry in skips[limit:]:
        entry[0] = primitives[max(replaceable, key=lambda col: weights[entry[2], col])]

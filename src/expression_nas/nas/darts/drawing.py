"""Drawing of a "darts" spec with matplotlib: the normal cell above the reduction cell.

Each cell is drawn as DARTS draws it (seed 002, Fig. 3(b) and 14): the two input nodes
c_{k-2} and c_{k-1} (outputs of the previous two cells) on the left, the intermediate nodes
0..n-1 in a row, and the output c_k, the channel concatenation of all intermediate nodes, on
the right. Every chosen edge is an arrow from its source to its node, labelled with (and
coloured by) its operation; the dashed grey arrows feed the concatenation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from expression_nas.nas.cell_drawing import draw_cell_graph, save_figure
from expression_nas.nas.darts.operations import PRIMITIVES
from expression_nas.nas.spec import validate_spec

_OP_PALETTE = (
    "#7f7f7f", "#1f77b4", "#17becf", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b",
)  # fmt: skip
_CELLS = (("normal", "normal cell"), ("reduce", "reduction cell"))


def _op_colour(name: str) -> str:
    """One colour per DARTS operation (grey is kept for the concatenation arrows)."""
    index = PRIMITIVES.index(name) if name in PRIMITIVES else 0
    return _OP_PALETTE[index % len(_OP_PALETTE)]


def draw_genotype(spec: Mapping[str, Any], path: str | Path | None = None) -> Figure:
    """The normal cell (top) and the reduction cell (bottom) of a "darts" spec; also written
    as PNG to ``path`` when given."""
    spec = validate_spec(spec)
    if spec["family"] != "darts":
        raise ValueError(f"spec key 'family': can only draw 'darts', got {spec['family']!r}")
    nodes = max(len(spec["genotype"][cell]) for cell, _ in _CELLS)
    figure = Figure(figsize=(max(8.0, 2.0 * (nodes + 2)), 9), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, (cell, title) in zip(figure.subplots(2, 1), _CELLS, strict=True):
        draw_cell_graph(
            axes,
            spec["genotype"][cell],
            _op_colour,
            ("$c_{k-2}$", "$c_{k-1}$"),
            "$c_k$",
            "concat",
            title,
        )
    save_figure(figure, path)
    return figure

import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from expression_nas.nas.darts.drawing import draw_genotype
from expression_nas.nas.darts.operations import PRIMITIVES
from expression_nas.nas.rnas.search_space import RnasSearchConfig, RnasSupernet

GENOTYPE = {
    "normal": [
        [["sep_conv_3x3", 0], ["skip_connect", 1]],
        [["sep_conv_5x5", 0], ["dil_conv_3x3", 2]],
        [["skip_connect", 1], ["dil_conv_5x5", 3]],
    ],
    "reduce": [
        [["max_pool_3x3", 0], ["avg_pool_3x3", 1]],
        [["max_pool_3x3", 1], ["skip_connect", 2]],
        [["sep_conv_3x3", 0], ["avg_pool_3x3", 3]],
    ],
}


def _spec(genotype=GENOTYPE, nodes=3) -> dict:
    return {
        "schema_version": 1,
        "family": "darts",
        "in_channels": 1,
        "num_classes": 7,
        "input_size": [48, 48],
        "channels": 4,
        "layers": 3,
        "nodes": nodes,
        "stem_multiplier": 3,
        "genotype": genotype,
        "dropout": 0.0,
        "cell_dropout": 0.0,
    }


def test_both_cells_are_drawn_with_every_operation_and_node(tmp_path):
    target = tmp_path / "nested" / "cells.png"
    figure = draw_genotype(_spec(), target)
    assert isinstance(figure, Figure)
    normal_axes, reduce_axes = figure.axes
    assert len(figure.axes) == 2
    for axes, cell, title in ((normal_axes, "normal", "normal"), (reduce_axes, "reduce", "reduc")):
        texts = [text.get_text() for text in axes.texts]
        assert title in axes.get_title()
        edges = [name for node in GENOTYPE[cell] for name, _ in node]
        # one label per edge, each naming its operation
        assert sorted(t for t in texts if t in PRIMITIVES) == sorted(edges)
        for node in ("$c_{k-2}$", "$c_{k-1}$", "0", "1", "2", "$c_k$"):
            assert node in texts
        assert "3" not in texts  # three intermediate nodes: 0, 1, 2
    image = imread(target)
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image[..., :3].std() > 0.01  # not a blank page


def test_every_darts_operation_gets_a_label():
    operations = [name for name in PRIMITIVES if name != "none"]  # seven operations
    genotype = {
        "normal": [[[operations[0], 0], [operations[1], 1]], [[operations[2], 2]]],
        "reduce": [
            [[operations[3], 0], [operations[4], 1]],
            [[operations[5], 0], [operations[6], 2]],
        ],
    }
    figure = draw_genotype(_spec(genotype, nodes=2))
    texts = {text.get_text() for axes in figure.axes for text in axes.texts}
    assert set(operations) <= texts


def test_only_darts_specs_are_drawn():
    rnas = RnasSupernet(RnasSearchConfig(channels=4, layers=3, nodes=2)).derive()
    with pytest.raises(ValueError, match="can only draw 'darts'"):
        draw_genotype(rnas)
    with pytest.raises(ValueError, match=r"spec key 'genotype\.normal'"):
        draw_genotype(_spec(nodes=4))

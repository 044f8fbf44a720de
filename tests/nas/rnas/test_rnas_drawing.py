from matplotlib.image import imread

from expression_nas.nas.rnas.drawing import draw_spec
from expression_nas.nas.rnas.search_space import RnasSearchConfig, RnasSupernet


def test_draw_spec_writes_a_png(tmp_path):
    for use_prev_prev in (True, False):
        net = RnasSupernet(RnasSearchConfig(channels=4, use_prev_prev=use_prev_prev))
        target = tmp_path / f"arch_{use_prev_prev}.png"
        figure = draw_spec(net.derive(), target)
        image = imread(target)
        assert len(figure.axes) == 2
        assert image.shape[0] > 400 and image.shape[1] > 1000

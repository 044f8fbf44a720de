"""Label sets mapped to their common classes by canonical name, with the dropped classes of
each side named."""

from expression_nas.corpora.ckplus import VOCABULARY as CKPLUS_CLASSES
from expression_nas.corpora.fer2013 import VOCABULARY as FER2013_CLASSES
from expression_nas.corpora.jaffe import VOCABULARY as JAFFE_CLASSES
from expression_nas.evaluation import common_label_space


def test_fer2013_against_ckplus_drops_contempt_on_the_ckplus_side():
    space = common_label_space(FER2013_CLASSES, CKPLUS_CLASSES)
    assert space.classes == ("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprise")
    assert space.dropped_source == () and space.dropped_target == ("contempt",)
    assert len(space.source_map) == 7 and len(space.target_map) == 7
    # the same expression lands on the same common index whatever its spelling
    fer, ck = list(FER2013_CLASSES), list(CKPLUS_CLASSES)
    assert space.source_map[fer.index("angry")] == space.target_map[ck.index("anger")]
    assert space.source_map[fer.index("sad")] == space.target_map[ck.index("sadness")]
    assert ck.index("contempt") not in space.target_map


def test_a_side_without_neutral_drops_the_other_sides_neutral():
    six_classes = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    space = common_label_space(JAFFE_CLASSES, six_classes)
    assert "neutral" not in space.classes and len(space.classes) == 6
    assert space.dropped_source == ("neutral",) and space.dropped_target == ()
    assert space.target_map[six_classes.index("happiness")] == space.classes.index("happy")


def test_disjoint_label_sets_give_an_empty_space_not_an_error():
    space = common_label_space(["negative", "positive"], ["anger", "happy"])
    assert space.classes == () and space.source_map == {} and space.target_map == {}
    assert space.dropped_source == ("negative", "positive")

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from expression_nas.corpora.casme2 import VOCABULARY as CASME2_CLASSES
from expression_nas.corpora.ckplus import VOCABULARY as CKPLUS_CLASSES
from expression_nas.corpora.composite import COMPOSITE_CLASSES, COMPOSITE_LABEL_MAP
from expression_nas.corpora.fer2013 import VOCABULARY as FER2013_CLASSES
from expression_nas.corpora.jaffe import VOCABULARY as JAFFE_CLASSES
from expression_nas.corpora.smic import VOCABULARY as SMIC_CLASSES
from expression_nas.evaluation import (
    Fold,
    harmonize_labels,
    loso_folds,
    run_loso,
    subject_groups,
    subject_validation_split,
)

SUBJECTS = ["s2", "s1", "s1", "s3", "s2", "s1", "s3", "s3", "s4"]


def test_loso_tests_every_sample_exactly_once():
    folds = loso_folds(SUBJECTS)
    assert [fold.test_subject for fold in folds] == ["s1", "s2", "s3", "s4"]
    tested = Counter(int(row) for fold in folds for row in fold.test_rows)
    assert tested == Counter(range(len(SUBJECTS)))
    for fold in folds:
        assert {SUBJECTS[r] for r in fold.test_rows} == {fold.test_subject}
        assert fold.test_subject not in {SUBJECTS[r] for r in fold.train_rows}
        assert sorted([*fold.train_rows, *fold.test_rows]) == list(range(len(SUBJECTS)))


def test_loso_test_mask_keeps_held_out_rows_out_of_training():
    mask = [True, True, False, True, True, True, True, False, True]
    fold = next(f for f in loso_folds(SUBJECTS, test_mask=mask) if f.test_subject == "s1")
    assert list(fold.test_rows) == [1, 5]
    assert 2 not in fold.train_rows  # a masked row of s1 is in neither side


def test_subject_validation_split_separates_subjects():
    rows = np.arange(100, 100 + len(SUBJECTS))
    train, val = subject_validation_split(rows, SUBJECTS, fraction=0.5, seed=3)
    subject_of = dict(zip(rows, SUBJECTS, strict=True))
    assert {subject_of[r] for r in train}.isdisjoint({subject_of[r] for r in val})
    assert sorted([*train, *val]) == list(rows)
    assert len({subject_of[r] for r in val}) == 2
    again = subject_validation_split(rows, SUBJECTS, fraction=0.5, seed=3)
    np.testing.assert_array_equal(again[1], val)


def test_subject_validation_split_never_takes_every_subject():
    train, val = subject_validation_split([0, 1], ["a", "b"], fraction=0.9, seed=0)
    assert len(train) == len(val) == 1


def test_subject_groups_are_balanced_and_deterministic():
    subjects = [f"sub{i:02d}" for i in range(11)] * 2
    groups = subject_groups(subjects, n_groups=3, seed=1)
    assert set(groups) == set(subjects)
    assert sorted(Counter(groups.values()).values()) == [3, 4, 4]
    assert subject_groups(list(reversed(subjects)), 3, seed=1) == groups
    with pytest.raises(ValueError):
        subject_groups(["a", "b"], 3, seed=0)


def test_harmonize_ckplus_and_jaffe_drops_contempt():
    common, ck_map, jaffe_map = harmonize_labels(CKPLUS_CLASSES, JAFFE_CLASSES)
    assert common == ("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprise")
    assert CKPLUS_CLASSES.index("contempt") not in ck_map
    assert len(ck_map) == len(jaffe_map) == 7
    for i, name in enumerate(CKPLUS_CLASSES):
        if i in ck_map:
            assert common[ck_map[i]] == name


def test_harmonize_fer2013_spellings_with_ckplus():
    common, fer_map, _ = harmonize_labels(FER2013_CLASSES, CKPLUS_CLASSES)
    assert "anger" in common and "sadness" in common and "contempt" not in common
    assert common[fer_map[FER2013_CLASSES.index("angry")]] == "anger"
    assert len(fer_map) == 7


def test_harmonize_with_the_composite_mapping():
    common, casme_map, smic_map = harmonize_labels(
        CASME2_CLASSES, SMIC_CLASSES, mapping=COMPOSITE_LABEL_MAP
    )
    assert common == COMPOSITE_CLASSES
    named = {CASME2_CLASSES[i]: common[j] for i, j in casme_map.items()}
    assert named == {
        "happiness": "positive",
        "disgust": "negative",
        "repression": "negative",
        "fear": "negative",
        "sadness": "negative",
        "surprise": "surprise",
    }
    assert smic_map == {0: 0, 1: 1, 2: 2}


def test_harmonize_mapping_to_none_drops_a_class():
    common, _, _ = harmonize_labels(["a", "b"], ["a", "b"], mapping={"b": None})
    assert common == ("a",)


def test_run_loso_refuses_folds_that_share_a_subject():
    samples = pd.DataFrame(
        {
            "sample_id": ["x", "y", "z"],
            "subject": ["a", "a", "b"],
            "dataset": "demo",
            "label_index": [0, 1, 0],
        }
    )
    bad = [Fold("b", train_rows=np.array([0, 1]), test_rows=np.array([1, 2]))]
    with pytest.raises(ValueError, match="both sides"):
        run_loso(np.zeros((3, 1, 2, 2), np.uint8), samples, lambda v: None, lambda m, v: [0], bad)

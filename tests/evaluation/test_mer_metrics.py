import logging

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from expression_nas.evaluation import (
    classification_metrics,
    confusion_matrix_figure,
    metrics_by_group,
)
from expression_nas.evaluation.metrics import NO_PREDICTION

# Two LOSO folds over 3 classes. Fold B's subject shows no sample of class 1.
FOLD_A_TRUE, FOLD_A_PRED = [0, 0, 1, 1], [0, 1, 1, 1]
FOLD_B_TRUE, FOLD_B_PRED = [0, 2, 2], [0, 2, 0]


def test_pooled_uf1_and_uar_match_the_hand_computation():
    # Pooled: y_true 0 0 1 1 0 2 2 / y_pred 0 1 1 1 0 2 0
    #   class 0: TP 2, FP 1 (a 2 taken for 0), FN 1 (a 0 taken for 1)
    #            F1 = 2*2 / (2*2 + 1 + 1) = 4/6 = 2/3,  recall = 2/3
    #   class 1: TP 2, FP 1, FN 0  -> F1 = 4/5,         recall = 2/2 = 1
    #   class 2: TP 1, FP 0, FN 1  -> F1 = 2/3,         recall = 1/2
    #   UF1 = (2/3 + 4/5 + 2/3) / 3 = 32/45,  UAR = (2/3 + 1 + 1/2) / 3 = 13/18,  acc = 5/7
    scores = classification_metrics(FOLD_A_TRUE + FOLD_B_TRUE, FOLD_A_PRED + FOLD_B_PRED, 3)
    assert scores["uf1"] == pytest.approx(32 / 45)
    assert scores["uar"] == pytest.approx(13 / 18)
    assert scores["accuracy"] == pytest.approx(5 / 7)
    assert scores["f1"] == pytest.approx([2 / 3, 4 / 5, 2 / 3])
    assert scores["recall"] == pytest.approx([2 / 3, 1.0, 1 / 2])
    assert scores["precision"] == pytest.approx([2 / 3, 2 / 3, 1.0])
    assert scores["support"] == [3, 2, 2]
    assert scores["n"] == 7


def test_pooled_scores_differ_from_the_mean_of_fold_scores(caplog):
    # Fold A: class 0 F1 2/3 (recall 1/2), class 1 F1 4/5 (recall 1), class 2 absent and
    #         never predicted: 0/0 -> 0.   UF1_A = (2/3 + 4/5 + 0) / 3 = 22/45, UAR_A = 1/2
    # Fold B: class 0 F1 2/3 (recall 1), class 1 absent -> 0, class 2 F1 2/3 (recall 1/2).
    #         UF1_B = (2/3 + 0 + 2/3) / 3 = 20/45, UAR_B = 1/2
    # Mean of folds: UF1 = 21/45 (0.467) and UAR = 1/2, against pooled 32/45 (0.711), 13/18.
    with caplog.at_level(logging.WARNING):
        fold_a = classification_metrics(FOLD_A_TRUE, FOLD_A_PRED, 3)
        fold_b = classification_metrics(FOLD_B_TRUE, FOLD_B_PRED, 3)
    assert "no true sample" in caplog.text
    assert fold_a["uf1"] == pytest.approx(22 / 45)
    assert fold_b["uf1"] == pytest.approx(20 / 45)
    assert fold_a["uar"] == fold_b["uar"] == pytest.approx(1 / 2)
    mean_uf1 = (fold_a["uf1"] + fold_b["uf1"]) / 2
    pooled = classification_metrics(FOLD_A_TRUE + FOLD_B_TRUE, FOLD_A_PRED + FOLD_B_PRED, 3)
    assert mean_uf1 == pytest.approx(21 / 45)
    assert pooled["uf1"] - mean_uf1 == pytest.approx(11 / 45)


def test_a_class_never_seen_nor_predicted_counts_as_zero():
    scores = classification_metrics([0, 1], [0, 1], 3)
    assert scores["f1"] == [1.0, 1.0, 0.0]
    assert scores["uf1"] == pytest.approx(2 / 3)


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(ValueError, match="outside"):
        classification_metrics([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="outside"):
        classification_metrics([0, 1], [0, -2], 3)


def test_a_sample_with_no_prediction_counts_as_wrong_for_its_class_only():
    scores = classification_metrics([0, 0, 1, 1], [0, NO_PREDICTION, 1, 1], 2)
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["recall"] == [0.5, 1.0]
    assert scores["precision"] == [1.0, 1.0]  # the missing prediction is no false positive


def test_metrics_by_group_scores_each_source_corpus():
    predictions = pd.DataFrame(
        {
            "dataset": ["casme2"] * 4 + ["samm"] * 3,
            "y_true": FOLD_A_TRUE + FOLD_B_TRUE,
            "y_pred": FOLD_A_PRED + FOLD_B_PRED,
        }
    )
    table = metrics_by_group(predictions, "dataset", n_classes=3)
    assert list(table.index) == ["casme2", "samm"]
    assert table.loc["casme2", "uf1"] == pytest.approx(22 / 45)
    assert table.loc["samm", "n"] == 3
    assert table.loc["samm", "accuracy"] == pytest.approx(2 / 3)


def test_confusion_matrix_figure_has_counts_and_rates():
    figure = confusion_matrix_figure(
        FOLD_A_TRUE + FOLD_B_TRUE,
        FOLD_A_PRED + FOLD_B_PRED,
        ["negative", "positive", "surprise"],
        "demo",
    )
    assert isinstance(figure, Figure)
    counts_axes, rates_axes = figure.axes[:2]
    counts = np.array([[float(t.get_text()) for t in counts_axes.texts]]).reshape(3, 3)
    np.testing.assert_array_equal(counts, [[2, 1, 0], [0, 2, 0], [1, 0, 1]])
    rates = np.array([float(t.get_text()) for t in rates_axes.texts]).reshape(3, 3)
    np.testing.assert_allclose(rates.sum(axis=1), 1.0, atol=0.02)

"""Seed 001's target-fold protocol: folds of the test corpus, the epoch each fold chooses and
the scores on the other folds. The leak guard: no scored row ever takes part in a choice."""

import numpy as np
import pytest

from expression_nas.evaluation import choose_epoch, rotation_scores, target_folds

LABELS = np.array([0, 1] * 10)  # 20 rows, two classes
FOLDS = np.repeat(np.arange(4), 5)  # four folds of five rows
EPOCHS = (1, 2, 3, 4)


def _predictions(best_epoch_of_fold: dict[int, int]) -> np.ndarray:
    """[4 epochs, 20 rows]: each fold's rows are predicted right at its best epoch only."""
    predictions = np.tile(1 - LABELS, (len(EPOCHS), 1))
    for fold, epoch in best_epoch_of_fold.items():
        rows = fold == FOLDS
        predictions[epoch, rows] = LABELS[rows]
    return predictions


def test_the_most_accurate_epoch_is_chosen_the_earliest_on_a_tie():
    labels = np.array([0, 1, 1])
    predictions = np.array([[1, 1, 1], [0, 1, 1], [0, 1, 1], [0, 0, 0]])
    assert choose_epoch(predictions, labels) == 1


def test_each_rotation_chooses_on_its_fold_and_scores_the_others():
    predictions = _predictions({0: 2, 1: 0, 2: 0, 3: 0})
    rotations = rotation_scores(predictions, LABELS, FOLDS, n_classes=2, epochs=EPOCHS)
    assert rotations["fold"].tolist() == [0, 1, 2, 3]
    assert rotations["epoch"].tolist() == [3, 1, 1, 1]
    assert (rotations["n_validation"] == 5).all() and (rotations["n_scored"] == 15).all()
    # fold 0 chose epoch 3, which is wrong on every other row: the score shows it
    first = rotations.iloc[0]
    assert (first["accuracy"], first["uar"], first["uf1"]) == (0.0, 0.0, 0.0)
    # fold 1 chose epoch 1: right on folds 2 and 3, wrong on fold 0
    second = rotations.iloc[1]
    assert second["accuracy"] == pytest.approx(10 / 15)
    # scored: class 0 has 8 rows (5 right), class 1 has 7 (5 right); fold 0's wrong rows are
    # 3 false 1s and 2 false 0s, so both classes have F1 = 2TP / (2TP + FP + FN) = 10 / 15
    assert second["uar"] == pytest.approx((5 / 8 + 5 / 7) / 2)
    assert second["uf1"] == pytest.approx(10 / 15)


def test_no_scored_row_takes_part_in_the_choice():
    rng = np.random.default_rng(0)
    predictions = rng.integers(0, 2, size=(len(EPOCHS), len(LABELS)))
    chosen = rotation_scores(predictions, LABELS, FOLDS, 2, EPOCHS)["epoch"].tolist()
    for fold in range(4):
        scored = fold != FOLDS
        rewritten = predictions.copy()
        rewritten[:, scored] = rng.integers(0, 2, size=(len(EPOCHS), scored.sum()))
        again = rotation_scores(rewritten, LABELS, FOLDS, 2, EPOCHS)
        assert again["epoch"].iloc[fold] == chosen[fold]


def test_the_choice_follows_the_validation_fold_alone():
    before = rotation_scores(_predictions({0: 2, 1: 0, 2: 0, 3: 0}), LABELS, FOLDS, 2, EPOCHS)
    after = rotation_scores(_predictions({0: 3, 1: 0, 2: 0, 3: 0}), LABELS, FOLDS, 2, EPOCHS)
    assert (before["epoch"].iloc[0], after["epoch"].iloc[0]) == (3, 4)
    assert before["epoch"].iloc[1:].tolist() == after["epoch"].iloc[1:].tolist()


def test_folds_keep_each_subject_whole_and_fall_back_to_stratified_images():
    subjects = [f"s{i % 6}" for i in range(24)]
    labels = np.arange(24) % 3
    folds = target_folds(subjects, labels, n_folds=3, seed=0)
    for subject in set(subjects):
        assert len(set(folds[np.array(subjects) == subject])) == 1
    assert sorted(set(folds)) == [0, 1, 2]
    # one "unknown" subject (FER2013): folds of images, every class in every fold
    folds = target_folds(["unknown"] * 24, labels, n_folds=4, seed=0)
    for fold in range(4):
        assert sorted(set(labels[folds == fold])) == [0, 1, 2]
    with pytest.raises(ValueError, match="cannot deal 6 subjects into 10 groups"):
        target_folds(subjects, labels, n_folds=10, seed=0)

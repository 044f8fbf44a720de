"""Seed 001's target-fold protocol for cross-database tests (sec. 3.6): the test corpus is cut
into k folds; each fold in turn chooses a hyper-parameter, the other k - 1 folds are scored
with that choice, and the scores are averaged over the k rotations.

Here the hyper-parameter is the training epoch, chosen from predictions kept after every
epoch. Leak guard: ``rotation_scores`` hands ``choose_epoch`` the validation fold's
predictions and labels alone, and scores only the rows outside that fold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from expression_nas.evaluation.metrics import classification_metrics
from expression_nas.evaluation.protocols import subject_groups


def target_folds(
    subjects: Sequence[str], labels: np.ndarray, n_folds: int, seed: int
) -> np.ndarray:
    """The fold of each row: by subject (all of a subject's images in one fold) where there
    are several subjects, else (FER2013: one "unknown" subject) seeded and stratified by
    class."""
    subjects = np.asarray([str(subject) for subject in subjects], dtype=object)
    if len(set(subjects)) > 1:
        group_of = subject_groups(subjects, n_folds, seed)
        return np.array([group_of[subject] for subject in subjects], dtype=np.int64)
    folds = np.empty(len(labels), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (_, rows) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[rows] = fold
    return folds


def choose_epoch(epoch_predictions: np.ndarray, labels: np.ndarray) -> int:
    """The index of the epoch (row of ``epoch_predictions`` [epochs, n]) whose predictions
    are most accurate on ``labels``; the earliest on a tie."""
    accuracy = (epoch_predictions == labels[np.newaxis, :]).mean(axis=1)
    return int(np.argmax(accuracy))


def rotation_scores(
    epoch_predictions: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    n_classes: int,
    epochs: Sequence[int],
) -> pd.DataFrame:
    """target_fold: per fold, the epoch chosen on that fold alone and its scores on the other
    folds. ``epoch_predictions[e]`` are the predictions after epoch ``epochs[e]``."""
    rows = []
    for fold in np.unique(folds):
        validation = folds == fold
        scored = ~validation
        chosen = choose_epoch(epoch_predictions[:, validation], labels[validation])
        scores = classification_metrics(
            labels[scored], epoch_predictions[chosen, scored], n_classes
        )
        rows.append(
            {
                "fold": int(fold),
                "epoch": int(epochs[chosen]),
                "n_validation": int(validation.sum()),
                "n_scored": int(scored.sum()),
                **{key: scores[key] for key in ("accuracy", "uar", "uf1")},
            }
        )
    return pd.DataFrame(rows)

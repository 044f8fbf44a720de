"""Evaluation protocols: leave-one-subject-out (LOSO), subject-wise splits and label
harmonisation for cross-database evaluation.

LOSO is leak-proof by construction: ``run_loso`` hands the training function a ``FoldView``
whose clips are a ``RowView`` exposing only the training rows, so neither training nor any
selection done inside it (a validation split, early stopping) can read the held-out subject.
On an augmented table (columns ``source_row`` and ``copy``, copy 0 = the original) training
takes every row of the training subjects, copies included, and testing only the originals
(copy 0) of the held-out subject; its copies are in neither side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from expression_nas import progress

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("sample_id", "subject", "dataset", "fold", "y_true", "y_pred")

#: Label words that differ between corpora for the same basic emotion -> one spelling (that of
#: CK+ and JAFFE): the one canonical-name table, applied by ``common_label_space`` (and
#: ``harmonize_labels``) when no explicit mapping is given.
BASIC_EMOTION_SYNONYMS = {"angry": "anger", "sad": "sadness", "happiness": "happy"}


@dataclass(frozen=True)
class Fold:
    """Row positions (into the samples table and the clip array) of one fold."""

    test_subject: str
    train_rows: np.ndarray
    test_rows: np.ndarray


class RowView:
    """Array-like over ``rows`` of ``array``: index i of the view reads ``array[rows[i]]``.

    Indices are bounds-checked against the view, so no index reaches a row outside ``rows``.
    Supports what clip datasets use: ``len``, ``shape``, ``dtype``, ``ndim``, integer, slice,
    integer-array and boolean-mask indexing (optionally followed by indices into the clip), and
    ``np.asarray(view)``.
    """

    def __init__(self, array: Any, rows: np.ndarray) -> None:
        self._array = array
        self._rows = np.asarray(rows, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._rows), *self._array.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, tuple):
            return self._array[(self._global(index[0]), *index[1:])]
        return self._array[self._global(index)]

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        return np.asarray(self._array[self._rows], dtype=dtype)

    def _global(self, index: Any) -> Any:
        selected = self._rows[index]  # numpy raises IndexError outside the view
        return int(selected) if np.ndim(selected) == 0 else selected


@dataclass(frozen=True)
class FoldView:
    """One side of a fold: ``clips[i]`` is the clip of ``samples.iloc[i]``."""

    clips: RowView
    samples: pd.DataFrame

    @property
    def labels(self) -> np.ndarray:
        return self.samples["label_index"].to_numpy(dtype=np.int64)

    def __len__(self) -> int:
        return len(self.samples)


def loso_folds(
    subjects: Sequence[str], test_mask: Sequence[bool] | np.ndarray | None = None
) -> list[Fold]:
    """One fold per subject (sorted): train on every row of the other subjects, test on the
    subject's rows, restricted to ``test_mask`` where given (e.g. ``copy == 0``)."""
    subjects = np.asarray(subjects, dtype=object)
    mask = np.ones(len(subjects), dtype=bool) if test_mask is None else np.asarray(test_mask)
    if mask.shape != subjects.shape:
        raise ValueError(f"test_mask {mask.shape} does not match subjects {subjects.shape}")
    folds = []
    for subject in sorted(set(subjects)):
        held_out = subjects == subject
        folds.append(
            Fold(
                test_subject=str(subject),
                train_rows=np.flatnonzero(~held_out),
                test_rows=np.flatnonzero(held_out & mask),
            )
        )
    return folds


def subject_groups(subjects: Sequence[str], n_groups: int, seed: int) -> dict[str, int]:
    """Assign each distinct subject to one of ``n_groups`` groups (for person-independent
    k-fold cross-validation): a seeded shuffle dealt round-robin, so group sizes in subjects
    differ by at most one and the result depends only on the set of subjects and the seed."""
    unique = sorted({str(s) for s in subjects})
    if not 1 <= n_groups <= len(unique):
        raise ValueError(f"cannot deal {len(unique)} subjects into {n_groups} groups")
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i]: position % n_groups for position, i in enumerate(order)}


def subject_validation_split(
    rows: Sequence[int] | np.ndarray, subjects: Sequence[str], fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rows`` (with ``subjects[i]`` the subject of ``rows[i]``) by subject: about
    ``fraction`` of the subjects (at least one, never all) go to validation with all their
    rows. Used for any selection inside a training fold, so it never needs the test subject.
    """
    rows = np.asarray(rows, dtype=np.int64)
    subjects = np.asarray([str(s) for s in subjects], dtype=object)
    if rows.shape != subjects.shape:
        raise ValueError(f"rows {rows.shape} and subjects {subjects.shape} must match")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    unique = sorted(set(subjects))
    if len(unique) < 2:
        raise ValueError("a subject-wise validation split needs at least two subjects")
    n_val = min(len(unique) - 1, max(1, round(fraction * len(unique))))
    chosen = np.random.default_rng(seed).choice(len(unique), size=n_val, replace=False)
    is_val = np.isin(subjects, [unique[i] for i in chosen])
    return rows[~is_val], rows[is_val]


def stratified_draw(
    rows: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` of ``rows`` (``labels[i]`` the class of ``rows[i]``), each class in proportion:
    the rows shuffled, then ranked by their place within their class over the class's size."""
    order = rng.permutation(len(rows))
    drawn, labels = np.asarray(rows)[order], np.asarray(labels)[order]
    place = pd.Series(labels).groupby(labels).cumcount().to_numpy() + 0.5
    share = place / np.bincount(labels)[labels]
    return drawn[np.argsort(share, kind="stable")[:n]]


@dataclass(frozen=True)
class LabelSpace:
    """The classes a source (training) and a target (test) label set share.

    ``classes``: the common classes, sorted by name; ``source_map`` / ``target_map``: each
    side's class index -> common class index (dropped classes are absent); ``dropped_source``
    / ``dropped_target``: each side's class names that have no counterpart (in its order).
    """

    classes: tuple[str, ...]
    source_map: dict[int, int]
    target_map: dict[int, int]
    dropped_source: tuple[str, ...]
    dropped_target: tuple[str, ...]


def common_label_space(
    source_classes: Sequence[str],
    target_classes: Sequence[str],
    mapping: Mapping[str, str | None] | None = None,
) -> LabelSpace:
    """The common classes of two label sets, for training on one corpus and testing on another.

    Both sides' class names are first renamed by ``mapping`` (names it does not list keep
    their own; a name mapped to ``None`` is dropped), or by ``BASIC_EMOTION_SYNONYMS`` when no
    mapping is given. Classes only one side has (e.g. contempt, neutral) are dropped. Several
    classes of one side may map to the same common class (e.g. the composite's negative). The
    common classes may be empty: whether that is an error is the caller's call.
    """
    rename = dict(BASIC_EMOTION_SYNONYMS if mapping is None else mapping)
    source_names = [rename.get(name, name) for name in source_classes]
    target_names = [rename.get(name, name) for name in target_classes]
    common = tuple(sorted(({*source_names} & {*target_names}) - {None}))
    position = {name: i for i, name in enumerate(common)}

    def index_map(names: list[str | None]) -> dict[int, int]:
        return {i: position[name] for i, name in enumerate(names) if name in position}

    def dropped(classes: Sequence[str], names: list[str | None]) -> tuple[str, ...]:
        return tuple(old for old, new in zip(classes, names, strict=True) if new not in position)

    return LabelSpace(
        classes=common,
        source_map=index_map(source_names),
        target_map=index_map(target_names),
        dropped_source=dropped(source_classes, source_names),
        dropped_target=dropped(target_classes, target_names),
    )


def harmonize_labels(
    source_classes: Sequence[str],
    target_classes: Sequence[str],
    mapping: Mapping[str, str | None] | None = None,
) -> tuple[tuple[str, ...], dict[int, int], dict[int, int]]:
    """``common_label_space`` as ``(common_classes, source_map, target_map)``; no common class
    is an error here."""
    space = common_label_space(source_classes, target_classes, mapping)
    if not space.classes:
        raise ValueError(f"no common classes between {source_classes} and {target_classes}")
    dropped = sorted({*space.dropped_source, *space.dropped_target})
    if dropped:
        logger.info("label harmonisation drops %s; common classes %s", dropped, list(space.classes))
    return space.classes, space.source_map, space.target_map


def run_loso(
    clips: Any,
    samples: pd.DataFrame,
    train_fn: Callable[[FoldView], Any],
    predict_fn: Callable[[Any, FoldView], Sequence[int] | np.ndarray],
    folds: Sequence[Fold] | None = None,
    on_fold_end: Callable[[Fold, pd.DataFrame, Any], None] | None = None,
) -> pd.DataFrame:
    """Leave-one-subject-out: for each fold, ``model = train_fn(train_view)`` then
    ``y_pred = predict_fn(model, test_view)``; ``on_fold_end(fold, fold_predictions, model)``
    after each fold (e.g. to log a nested run).

    ``clips[i]`` must be the clip of ``samples.iloc[i]``; ``samples`` needs sample_id,
    subject, dataset and label_index. ``folds`` defaults to ``loso_folds`` over the subjects;
    given folds (e.g. k-fold subject groups) are checked to keep the two sides' subjects
    disjoint, and on an augmented table their test rows are cut to the originals (copy 0).

    Returns the predictions pooled over all folds, one row per tested sample, with columns
    sample_id, subject, dataset, fold (fold number), y_true and y_pred: score it once with
    ``classification_metrics`` (the MER convention).
    """
    if len(clips) != len(samples):
        raise ValueError(f"{len(clips)} clips but {len(samples)} sample rows")
    missing = {"sample_id", "subject", "dataset", "label_index"} - set(samples.columns)
    if missing:
        raise KeyError(f"samples lacks columns {sorted(missing)}")
    samples = samples.reset_index(drop=True)
    originals = (
        samples["copy"].to_numpy() == 0
        if "copy" in samples.columns
        else np.ones(len(samples), dtype=bool)
    )
    if folds is None:
        folds = loso_folds(samples["subject"].tolist(), test_mask=originals)
    subjects = samples["subject"].astype(str).to_numpy()
    parts = []
    for number, fold in enumerate(progress.track(folds, "LOSO", "fold")):
        train_rows = np.asarray(fold.train_rows, dtype=np.int64)
        test_rows = np.asarray(fold.test_rows, dtype=np.int64)
        test_rows = test_rows[originals[test_rows]]
        overlap = set(subjects[train_rows]) & set(subjects[test_rows])
        if overlap:
            raise ValueError(f"fold {fold.test_subject}: subjects {sorted(overlap)} on both sides")
        if len(test_rows) == 0:
            logger.warning("fold %s: no test rows, skipped", fold.test_subject)
            continue
        train_view = FoldView(
            RowView(clips, train_rows), samples.iloc[train_rows].reset_index(drop=True)
        )
        test_view = FoldView(
            RowView(clips, test_rows), samples.iloc[test_rows].reset_index(drop=True)
        )
        model = train_fn(train_view)
        y_pred = np.asarray(predict_fn(model, test_view), dtype=np.int64)
        if y_pred.shape != (len(test_rows),):
            raise ValueError(
                f"fold {fold.test_subject}: predict_fn returned shape {y_pred.shape}, "
                f"expected ({len(test_rows)},)"
            )
        part = test_view.samples[["sample_id", "subject", "dataset"]].assign(
            fold=number, y_true=test_view.labels, y_pred=y_pred
        )
        logger.info(
            "fold %d (%s): trained on %d rows, accuracy %.3f on %d samples",
            number,
            fold.test_subject,
            len(train_rows),
            float(np.mean(part["y_true"] == part["y_pred"])),
            len(part),
        )
        if on_fold_end is not None:
            on_fold_end(fold, part, model)
        parts.append(part)
    if not parts:
        raise ValueError("no fold had test rows")
    return pd.concat(parts, ignore_index=True)[list(PREDICTION_COLUMNS)]

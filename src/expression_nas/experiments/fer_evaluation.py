"""The FER evaluation protocol shared by the still-image (FER) pipelines: folds, training of a
network per fold and scoring of the pooled predictions.

Protocols:
- ``standard_split`` (FER2013): train on ``usage == Training``, test on ``PrivateTest``.
  ``PublicTest`` is FER2013's validation split: it is never tested on and, since training runs
  a fixed number of epochs, not used by ``evaluate_fer``; protocols that select (a search,
  early stopping) score on it through ``plan_folds``.
- ``kfold``: person-independent k-fold cross-validation, every subject's images in one fold
  (``evaluation.protocols.subject_groups``).

As in the MER protocol, each fold's training sees only a ``RowView`` of its training rows (on
an augmented table: the originals and copies of the training side), testing uses only the
originals of the test side, training runs a fixed number of epochs with no look at the test
side, and metrics are computed once over the predictions pooled from every fold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from torch.utils.data import DataLoader

from expression_nas import progress, tracking
from expression_nas.evaluation.metrics import classification_metrics, confusion_matrix_figure
from expression_nas.evaluation.protocols import (
    Fold,
    FoldView,
    RowView,
    stratified_draw,
    subject_groups,
    subject_validation_split,
)
from expression_nas.preprocessing.augmentation import ClipAugmenter
from expression_nas.training.data import (
    AugmentedImageDataset,
    CutoutImageDataset,
    ImageDataset,
    RowReadable,
    make_loader,
)
from expression_nas.training.loop import OptimizerConfig, predict, train_fixed_epochs
from expression_nas.training.workers import TrainingPool, worker_count

logger = logging.getLogger(__name__)

PROTOCOLS = ("standard_split", "kfold")
FER_PREDICTION_COLUMNS = ("sample_id", "subject", "fold", "y_true", "y_pred")
TRAIN_USAGE, VALIDATION_USAGE, TEST_USAGE = "Training", "PublicTest", "PrivateTest"


def _originals(samples: pd.DataFrame) -> np.ndarray:
    """Mask of the original rows (copy 0) of a possibly augmented table."""
    if "copy" not in samples.columns:
        return np.ones(len(samples), dtype=bool)
    return samples["copy"].to_numpy() == 0


def fer_folds(samples: pd.DataFrame, protocol: str, k: int = 10, seed: int = 0) -> list[Fold]:
    """The folds of ``protocol`` over the rows of ``samples``; ``Fold.test_subject`` holds the
    fold's name ("PrivateTest", or "fold0", "fold1", ... for k-fold).

    On an augmented table (a ``copy`` column) the test rows are cut to the originals (copy 0);
    the training rows keep every copy of the training side.
    """
    samples = samples.reset_index(drop=True)
    originals = _originals(samples)
    if protocol == "standard_split":
        if "usage" not in samples.columns:
            raise ValueError(
                "protocol 'standard_split' needs a 'usage' column (Training / PublicTest / "
                "PrivateTest, as in FER2013); this corpus has none: use protocol 'kfold'"
            )
        usage = samples["usage"].astype(str).to_numpy()
        train_rows = np.flatnonzero(usage == TRAIN_USAGE)
        test_rows = np.flatnonzero((usage == TEST_USAGE) & originals)
        for split, rows in ((TRAIN_USAGE, train_rows), (TEST_USAGE, test_rows)):
            if len(rows) == 0:
                raise ValueError(f"protocol 'standard_split': no rows with usage == {split!r}")
        return [Fold(test_subject=TEST_USAGE, train_rows=train_rows, test_rows=test_rows)]
    if protocol == "kfold":
        subjects = samples["subject"].astype(str).to_numpy()
        n_subjects = len(set(subjects))
        if k < 2 or n_subjects < k:
            raise ValueError(
                f"protocol 'kfold' with k={k} needs k >= 2 and at least k subjects; "
                f"the corpus has {n_subjects}"
            )
        group_of = subject_groups(subjects, k, seed)
        groups = np.array([group_of[subject] for subject in subjects])
        return [
            Fold(
                test_subject=f"fold{group}",
                train_rows=np.flatnonzero(groups != group),
                test_rows=np.flatnonzero((groups == group) & originals),
            )
            for group in range(k)
        ]
    raise ValueError(f"unknown FER protocol {protocol!r}; expected one of {PROTOCOLS}")


@dataclass(frozen=True)
class FoldPlan:
    """Rows (into the samples table) of one fold of a protocol with a selection step (a
    search, early stopping): what the selection trains on and scores on, what a final network
    without selection trains on, and what is predicted once."""

    name: str
    search_train: np.ndarray
    search_validation: np.ndarray
    final_train: np.ndarray
    test: np.ndarray


def plan_folds(
    samples: pd.DataFrame, protocol: str, k: int, seed: int, validation_fraction: float
) -> list[FoldPlan]:
    """The folds of ``protocol`` with their selection rows: ``standard_split`` selects on
    PublicTest (training on Training); ``kfold`` holds out about ``validation_fraction`` of
    each fold's training subjects (``subject_validation_split``), so no selection ever sees a
    test subject."""
    samples = samples.reset_index(drop=True)
    if protocol == "standard_split":
        usage = samples.get("usage")
        if usage is None:
            raise ValueError("protocol 'standard_split' needs a 'usage' column (FER2013)")
        usage = usage.astype(str).to_numpy()
        train, validation, test = (
            np.flatnonzero(usage == name) for name in (TRAIN_USAGE, VALIDATION_USAGE, TEST_USAGE)
        )
        if len(validation) == 0:
            raise ValueError(f"no rows with usage {VALIDATION_USAGE!r} to score the searches on")
        return [FoldPlan(TEST_USAGE, train, validation, train, test)]
    subjects = samples["subject"].astype(str).to_numpy()
    plans = []
    for fold in fer_folds(samples, protocol, k, seed):
        search_train, search_validation = subject_validation_split(
            fold.train_rows, subjects[fold.train_rows], validation_fraction, seed
        )
        plans.append(
            FoldPlan(
                fold.test_subject,
                search_train,
                search_validation,
                fold.train_rows,
                np.asarray(fold.test_rows),
            )
        )
    return plans


@dataclass(frozen=True)
class Labelled:
    """Images ([N, H, W] or [N, H, W, 3] uint8) and their class indices."""

    images: np.ndarray
    labels: np.ndarray

    @classmethod
    def rows(cls, images: Any, samples: pd.DataFrame, rows: np.ndarray) -> Labelled:
        """A copy of ``rows`` only (nothing else of ``images`` is kept or pickled)."""
        rows = np.asarray(rows, dtype=np.int64)
        labels = samples["label_index"].to_numpy(dtype=np.int64)[rows]
        return cls(np.ascontiguousarray(images[rows]), labels)

    def loader(
        self,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        augmenter: ClipAugmenter | None = None,
        cutout: int | None = None,
    ) -> DataLoader:
        """Batches of the images, augmented on the fly by ``augmenter`` or with cutout of
        ``cutout`` pixels (at most one of them)."""
        rows = np.arange(len(self.labels))
        if augmenter is not None and cutout is not None:
            raise ValueError("choose an augmenter or cutout, not both")
        if augmenter is not None:
            dataset = AugmentedImageDataset(self.images, rows, self.labels, augmenter)
        elif cutout is not None:
            dataset = CutoutImageDataset(self.images, rows, self.labels, cutout)
        else:
            dataset = ImageDataset(self.images, rows, self.labels)
        return make_loader(dataset, batch_size, shuffle, seed)


def training_rows(plan: FoldPlan, samples: pd.DataFrame, limit: int | None, seed: int):
    """The plan's selection-training rows, cut to ``limit`` by a stratified draw."""
    rows = plan.search_train
    if limit is None or limit >= len(rows):
        return rows
    labels = samples["label_index"].to_numpy()[rows]
    return np.sort(stratified_draw(rows, labels, limit, np.random.default_rng(seed)))


def in_channels_of(images: Any) -> int:
    """1 for grayscale images [N, H, W], 3 for colour [N, H, W, 3]."""
    return 3 if len(images.shape) == 4 else 1


def corpus_spec(spec: dict[str, Any], images: Any, n_classes: int) -> dict[str, Any]:
    """A searched network's spec for a corpus's channels and classes."""
    return {**spec, "in_channels": in_channels_of(images), "num_classes": n_classes}


def class_weights(labels: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency ("balanced") cross-entropy weights ``n / (k * n_c)`` over the ``k``
    classes present in ``labels``.

    A class absent from ``labels`` gets weight 0: with no training target of that class its
    weight never enters the loss, and 0 marks it as unseen in the logged weights.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be non-empty and within 0..{n_classes - 1}")
    present = np.unique(labels)
    weights = np.zeros(n_classes, dtype=np.float64)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    return weights


def training_side(
    images: RowReadable, samples: pd.DataFrame, augmented: tuple[RowReadable, pd.DataFrame] | None
) -> tuple[RowReadable, pd.DataFrame, np.ndarray]:
    """The images and table training draws from, and for each of their rows the row of
    ``samples`` it stems from (itself without augmentation)."""
    if augmented is None:
        return images, samples, np.arange(len(samples))
    augmented_images, augmented_samples = augmented
    augmented_samples = augmented_samples.reset_index(drop=True)
    missing = {"source_row", "copy"} - set(augmented_samples.columns)
    if missing:
        raise ValueError(f"the augmented table lacks columns {sorted(missing)}")
    if not _originals(samples).all():
        raise ValueError("with an augmented table, samples must hold the originals only")
    if augmented_images.shape[0] != len(augmented_samples):
        raise ValueError(
            f"{augmented_images.shape[0]} augmented images but {len(augmented_samples)} rows"
        )
    source_rows = augmented_samples["source_row"].to_numpy(dtype=np.int64)
    if source_rows.min() < 0 or source_rows.max() >= len(samples):
        raise ValueError("augmented source_row points outside the original samples")
    for column in ("sample_id", "label_index"):
        if not np.array_equal(
            augmented_samples[column].to_numpy(), samples[column].to_numpy()[source_rows]
        ):
            raise ValueError(f"augmented rows disagree with their source rows on {column!r}")
    return augmented_images, augmented_samples, source_rows


def train_network(
    build_model: Callable[[int], nn.Module],
    view: FoldView,
    n_classes: int,
    training: OptimizerConfig,
    weighted_loss: bool,
    device: str | torch.device,
    seed: int,
    after_epoch: Callable[[int, nn.Module], None] | None = None,
    log: bool = True,
) -> tuple[nn.Module, list[dict]]:
    """``build_model(n_classes)`` trained from scratch on ``view`` for the fixed epochs; the
    model and its per-epoch records, with (``log``) the class weights and each epoch's training
    loss and accuracy logged to the active run; ``after_epoch(epoch, model)`` after each epoch
    (e.g. to record predictions; the model is back in training mode at the next epoch)."""
    torch.manual_seed(seed)
    model = build_model(n_classes)
    loader = make_loader(
        ImageDataset(view.clips, np.arange(len(view)), view.labels),
        training.batch_size,
        shuffle=True,
        seed=seed,
    )
    weights = class_weights(view.labels, n_classes) if weighted_loss else None
    if weights is not None and log:
        log_class_weights(weights)

    def log_epoch(epoch: int, record: dict) -> None:
        if log:
            tracking.log_training_epoch(record)
        if after_epoch is not None:
            after_epoch(epoch, model)

    history = train_fixed_epochs(
        model,
        loader,
        training,
        device=device,
        class_weights=weights,
        on_epoch_end=log_epoch,
        seed=seed,
    )
    return model, history


def log_class_weights(weights: np.ndarray) -> None:
    tracking.log_params({"class_weights": [round(float(w), 4) for w in weights]})


@dataclass(frozen=True)
class _FoldTraining:
    """What a fold's job needs besides its rows (pickled once per job for the workers)."""

    build_model: Callable[[int], nn.Module]
    n_classes: int
    training: OptimizerConfig
    weighted_loss: bool
    device: str | torch.device
    seed: int
    keep_model: bool


def _train_and_predict_fold(
    shared: dict[str, Any], rows: tuple[np.ndarray, np.ndarray], how: _FoldTraining
) -> tuple[np.ndarray, list[dict], nn.Module | None]:
    """One fold (a ``TrainingPool`` job): train on its training rows of the training side,
    predict its test rows; the predictions, the epoch records and (``keep_model``) the model."""
    train_rows, test_rows = rows
    train_view = FoldView(
        RowView(shared["train_images"], train_rows),
        shared["train_samples"].iloc[train_rows].reset_index(drop=True),
    )
    test_view = FoldView(
        RowView(shared["images"], test_rows),
        shared["samples"].iloc[test_rows].reset_index(drop=True),
    )
    model, history = train_network(
        how.build_model,
        train_view,
        how.n_classes,
        how.training,
        how.weighted_loss,
        how.device,
        how.seed,
        log=False,
    )
    test_loader = make_loader(
        ImageDataset(test_view.clips, np.arange(len(test_view)), test_view.labels),
        how.training.batch_size,
        shuffle=False,
    )
    _, y_pred, _ = predict(model, test_loader, how.device)
    return y_pred, history, model.cpu().eval() if how.keep_model else None


def evaluate_fer(
    images: RowReadable,
    samples: pd.DataFrame,
    build_model: Callable[[int], nn.Module],
    classes: Sequence[str],
    *,
    protocol: str,
    training: OptimizerConfig,
    k: int = 10,
    seed: int = 0,
    weighted_loss: bool = False,
    device: str | torch.device = "cpu",
    augmented: tuple[RowReadable, pd.DataFrame] | None = None,
    log_models: bool = False,
    workers: int | Literal["auto"] = 1,
) -> pd.DataFrame:
    """Train ``build_model(len(classes))`` from scratch on each fold of ``protocol`` and
    predict its test side; returns the predictions pooled over the folds, one row per tested
    image, with columns sample_id, subject, fold (the fold's name), y_true and y_pred.

    ``images[i]`` is the image of ``samples.iloc[i]`` ([N, H, W] or [N, H, W, 3] uint8);
    ``samples`` needs sample_id, subject, label_index (and usage for ``standard_split``).
    ``augmented`` = (images, table) of the augmented corpus (``source_row`` into ``samples``,
    ``copy`` 0 = the original): training then takes every row whose source is on the training
    side, copies included, and testing the originals of the test side from ``images``.
    ``weighted_loss``: cross-entropy weighted by ``class_weights`` of the training labels.
    Each fold is a nested MLflow run (when one is active) with its parameters, per-epoch
    training loss and accuracy, the fold's test accuracy and, with ``log_models``, the trained
    network (mlflow.pytorch). ``workers`` (``training.workers.worker_count``): the folds train
    side by side in that many worker processes, which needs a picklable ``build_model`` (a
    module-level function or a ``functools.partial`` of one); the logging stays here.
    """
    samples = samples.reset_index(drop=True)
    missing = {"sample_id", "subject", "label_index"} - set(samples.columns)
    if missing:
        raise ValueError(f"samples lacks columns {sorted(missing)}")
    if images.shape[0] != len(samples):
        raise ValueError(f"{images.shape[0]} images but {len(samples)} sample rows")
    labels = samples["label_index"].to_numpy(dtype=np.int64)
    if labels.min() < 0 or labels.max() >= len(classes):
        raise ValueError(f"label_index outside 0..{len(classes) - 1} ({len(classes)} classes)")
    train_images, train_samples, source_rows = training_side(images, samples, augmented)
    subjects = samples["subject"].astype(str).to_numpy()
    train_subjects = train_samples["subject"].astype(str).to_numpy()
    folds = fer_folds(samples, protocol, k, seed)
    tasks = []
    for fold in folds:
        train_rows = np.flatnonzero(np.isin(source_rows, fold.train_rows))
        test_rows = np.asarray(fold.test_rows, dtype=np.int64)
        if protocol == "kfold":
            overlap = set(train_subjects[train_rows]) & set(subjects[test_rows])
            if overlap:
                raise ValueError(f"{fold.test_subject}: subjects {sorted(overlap)} on both sides")
        tasks.append((train_rows, test_rows))
    how = _FoldTraining(
        build_model, len(classes), training, weighted_loss, device, seed, keep_model=log_models
    )
    shared = {
        "train_images": train_images,
        "train_samples": train_samples,
        "images": images,
        "samples": samples,
    }
    count = worker_count(workers, len(tasks), torch.device(device))
    parts = []
    with TrainingPool(count, shared, preload=[__name__]) as pool:
        outcomes = pool.map(partial(_train_and_predict_fold, how=how), tasks)
        for fold, (train_rows, test_rows), (y_pred, history, model) in zip(
            folds, tasks, progress.track(outcomes, protocol, "fold", total=len(tasks)), strict=True
        ):
            part = samples.iloc[test_rows][["sample_id", "subject"]].reset_index(drop=True)
            labels_tested = labels[test_rows]
            part = part.assign(fold=fold.test_subject, y_true=labels_tested, y_pred=y_pred)
            accuracy = float(np.mean(part["y_true"] == part["y_pred"]))
            with tracking.nested_run(
                f"fold {fold.test_subject}",
                tags={"kind": "fold", "protocol": protocol},
                fold=fold.test_subject,
            ):
                tracking.log_params(
                    {
                        "protocol": protocol,
                        "fold": fold.test_subject,
                        **({"k": k} if protocol == "kfold" else {}),
                        "seed": seed,
                        "augmented": augmented is not None,
                        "weighted_loss": weighted_loss,
                        "train_rows": len(train_rows),
                        "test_rows": len(test_rows),
                        "training": asdict(training),
                    }
                )
                if weighted_loss:
                    train_labels = train_samples["label_index"].to_numpy()[train_rows]
                    log_class_weights(class_weights(train_labels, len(classes)))
                for record in history:
                    tracking.log_training_epoch(record)
                tracking.log_metrics({"fold_accuracy": accuracy, "n": len(part)})
                if model is not None:
                    tracking.log_torch_model(model)
            logger.info(
                "%s %s: trained on %d rows, accuracy %.3f on %d images",
                protocol,
                fold.test_subject,
                len(train_rows),
                accuracy,
                len(part),
            )
            parts.append(part)
    return pd.concat(parts, ignore_index=True)[list(FER_PREDICTION_COLUMNS)]


def summarize_fer(predictions: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, UAR, UF1, n and per-class precision/recall/F1/support over the pooled
    predictions (lists indexed by class, and ``per_class`` keyed by class name); with more
    than one fold also each fold's accuracy and their mean and sample standard deviation."""
    scores = classification_metrics(predictions["y_true"], predictions["y_pred"], len(classes))
    summary: dict[str, Any] = {
        "classes": list(classes),
        **scores,
        "per_class": {
            name: {
                metric: scores[metric][index] for metric in ("precision", "recall", "f1", "support")
            }
            for index, name in enumerate(classes)
        },
    }
    correct = predictions["y_true"] == predictions["y_pred"]
    fold_accuracy = correct.groupby(predictions["fold"], sort=True).mean()
    if len(fold_accuracy) > 1:
        summary["fold_accuracy"] = {str(fold): float(v) for fold, v in fold_accuracy.items()}
        summary["fold_accuracy_mean"] = float(fold_accuracy.mean())
        summary["fold_accuracy_std"] = float(fold_accuracy.std(ddof=1))
    return summary


def confusion_figure(predictions: pd.DataFrame, classes: Sequence[str], title: str) -> Figure:
    """Confusion matrix (counts and normalised by true class) of the pooled predictions."""
    return confusion_matrix_figure(predictions["y_true"], predictions["y_pred"], classes, title)

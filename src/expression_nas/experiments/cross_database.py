"""Cross-database evaluation (seed 001 sec. 3.6): for every ordered pair (A, B) of prepared
corpora, a network trained on A is tested on B, on the classes both share.

Labels: both label sets are mapped to their common classes by canonical name
(``evaluation.protocols.common_label_space``); the classes one side lacks are dropped and
reported, and a pair with fewer than two common classes is skipped with the reason. A trains
on its training material (FER2013: ``usage == Training``; CK+, JAFFE: every image) of the
common classes, relabelled to the common class list.

Protocols, both scored from the same training (one per training corpus and class list):

- ``direct``: no target information. The network after the fixed epochs is tested on every
  image of B's common classes.
- ``target_fold`` (seed 001): B's test material (FER2013: its PrivateTest usage) is cut into
  k folds, by subject where B has subjects (``evaluation.protocols.subject_groups``), else
  stratified by class. Each fold in turn chooses a hyper-parameter and the other k - 1 folds
  are scored; the scores are averaged over the k rotations. The hyper-parameter is the
  training epoch: A's network is trained once for the fixed epochs and its predictions on B
  are kept after every epoch; a rotation takes the epoch most accurate on its validation fold
  (the earliest on a tie) and scores that epoch on the other folds.

Honesty rules: training on A never reads B; in ``target_fold`` a rotation's epoch is chosen
from its validation fold's predictions alone, and that fold is not scored in that rotation
(``evaluation.target_fold.rotation_scores``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.evaluation.metrics import classification_metrics, score_matrix_heatmap
from expression_nas.evaluation.protocols import FoldView, LabelSpace, RowView, common_label_space
from expression_nas.evaluation.target_fold import rotation_scores, target_folds
from expression_nas.experiments.fer_evaluation import TRAIN_USAGE, train_network, training_side
from expression_nas.experiments.library_configs import optimizer_config
from expression_nas.models.registry import build_model
from expression_nas.nas.spec import load_spec, validate_spec
from expression_nas.parameters import CrossDatabaseParams
from expression_nas.parameters.cross_database import PER_PAIR_SPEC_KEYS, ArchitectureParams
from expression_nas.training.data import ImageDataset, RowReadable, make_loader
from expression_nas.training.loop import predict, resolve_device

logger = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "train_corpus",
    "test_corpus",
    "protocol",
    "common_classes",
    "dropped_train_classes",
    "dropped_test_classes",
    "skipped_reason",
    "n_train",
    "n_test",
    "accuracy",
    "uar",
    "uf1",
    "accuracy_std",
    "epochs",
)
PREDICTION_COLUMNS = (
    "train_corpus",
    "test_corpus",
    "sample_id",
    "subject",
    "target_fold",
    "epoch",
    "y_true",
    "y_pred",
)
#: target_fold of a predicted image outside the test corpus's target_fold material
NOT_IN_FOLDS = -1
#: recorded prediction of an image not predicted at that epoch: before the last epoch only
#: the target_fold material is predicted (its epochs are chosen from), the rest at the last
NOT_PREDICTED = -1


@dataclass(frozen=True)
class CorpusData:
    """A prepared corpus: ``images[i]`` is the still of ``samples.iloc[i]`` (label_index into
    ``classes``); ``augmented`` = (images, table) of its augmented copies, when training on
    them."""

    name: str
    images: RowReadable
    samples: pd.DataFrame
    classes: tuple[str, ...]
    augmented: tuple[RowReadable, pd.DataFrame] | None = None

    @property
    def labels(self) -> np.ndarray:
        return self.samples["label_index"].to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class PairPlan:
    """One ordered pair: its label space, why it is skipped ("" if it is not), the rows of
    the test corpus that are predicted and, per row, its target_fold fold (or NOT_IN_FOLDS)."""

    train: CorpusData
    test: CorpusData
    labels: LabelSpace
    skipped: str = ""
    test_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    target_fold: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def in_folds(self) -> np.ndarray:
        """Mask of the test rows in the target_fold material."""
        return self.target_fold != NOT_IN_FOLDS


def corpus_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every ordered pair (train, test) of distinct corpora, in the order of ``names``."""
    return list(itertools.permutations(names, 2))


def relabel(label_index: np.ndarray, index_map: dict[int, int]) -> np.ndarray:
    """Class indices mapped by ``index_map``; -1 for a class it drops."""
    return np.array([index_map.get(int(i), -1) for i in label_index], dtype=np.int64)


def training_material(samples: pd.DataFrame) -> np.ndarray:
    """Mask of the rows a corpus trains on: its Training usage where it has one (FER2013)."""
    if "usage" in samples.columns:
        return samples["usage"].astype(str).to_numpy() == TRAIN_USAGE
    return np.ones(len(samples), dtype=bool)


def _trainable(train: CorpusData, labels: LabelSpace) -> np.ndarray:
    """Mask of the training corpus's rows of its training material and the common classes."""
    return training_material(train.samples) & (relabel(train.labels, labels.source_map) >= 0)


def target_material(samples: pd.DataFrame, usage: Sequence[str]) -> np.ndarray:
    """Mask of the rows target_fold folds and scores: ``usage`` where the corpus has one."""
    if "usage" in samples.columns:
        return samples["usage"].astype(str).isin(list(usage)).to_numpy()
    return np.ones(len(samples), dtype=bool)


def architecture_template(architecture: ArchitectureParams) -> dict[str, Any]:
    """The spec every training builds, less in_channels and num_classes (set per training),
    checked by its family's validator."""
    spec = load_spec(architecture.file) if architecture.file else dict(architecture.spec)
    spec = {**spec, **architecture.overrides}
    validate_spec({**spec, "in_channels": 1, "num_classes": 2})
    return {key: value for key, value in spec.items() if key not in PER_PAIR_SPEC_KEYS}


def plan_pairs(corpora: Sequence[CorpusData], params: CrossDatabaseParams) -> list[PairPlan]:
    """Every ordered pair's label space and rows, or why it is skipped. The folds are dealt
    here, so a corpus with too few subjects for them stops the run before any training."""
    by_name = {corpus.name: corpus for corpus in corpora}
    plans = []
    for train_name, test_name in corpus_pairs(list(by_name)):
        train, test = by_name[train_name], by_name[test_name]
        labels = common_label_space(train.classes, test.classes)
        if len(labels.classes) < 2:
            common = _joined(labels.classes) or "none"
            plans.append(PairPlan(train, test, labels, f"fewer than two common classes ({common})"))
            continue
        trainable = _trainable(train, labels)
        test_labels = relabel(test.labels, labels.target_map)
        material = target_material(test.samples, params.target_fold.usage) & (test_labels >= 0)
        predicted = test_labels >= 0 if "direct" in params.protocols else material
        reason = (
            f"{train_name} has no training image of the common classes"
            if not trainable.any()
            else f"{test_name} has no test image of the common classes"
            if not predicted.any()
            else ""
        )
        if reason:
            plans.append(PairPlan(train, test, labels, reason))
            continue
        fold_of = np.full(len(test.samples), NOT_IN_FOLDS, dtype=np.int64)
        if "target_fold" in params.protocols:
            try:
                fold_of[material] = target_folds(
                    test.samples["subject"].to_numpy()[material],
                    test_labels[material],
                    params.target_fold.folds,
                    params.seed,
                )
            except ValueError as error:
                raise ValueError(
                    f"target_fold on {test_name} (test material of {train_name} -> {test_name}):"
                    f" {error}; lower cross_database.target_fold.folds"
                ) from error
        rows = np.flatnonzero(predicted)
        plans.append(PairPlan(train, test, labels, "", rows, fold_of[rows]))
    return plans


def _image_channels(corpora: Sequence[CorpusData]) -> int:
    """1 (grayscale [N, H, W]) or 3 ([N, H, W, 3]); every corpus must have the same geometry."""
    geometries = {corpus.name: tuple(corpus.images.shape[1:]) for corpus in corpora}
    if len(set(geometries.values())) > 1:
        raise ValueError(f"the corpora's images differ in size or channels: {geometries}")
    return 3 if len(next(iter(geometries.values()))) == 3 else 1


def _train_and_record(
    plans: Sequence[PairPlan],
    spec: dict[str, Any],
    params: CrossDatabaseParams,
    every_epoch: bool,
) -> tuple[dict[str, np.ndarray], list[int], int]:
    """Train on the pairs' shared training corpus and classes once. Returns the predictions
    on each pair's test rows, [recorded epochs, rows]: after every epoch (``every_epoch``) on
    the target_fold material and NOT_PREDICTED elsewhere, after the last on every test row;
    the recorded epochs; the number of training images (augmented copies included)."""
    train, labels = plans[0].train, plans[0].labels
    device = resolve_device(params.device)
    training = optimizer_config(params.training)
    images, table, source_rows = training_side(train.images, train.samples, train.augmented)
    rows = np.flatnonzero(_trainable(train, labels)[source_rows])
    table = table.iloc[rows].reset_index(drop=True)
    table["label_index"] = relabel(table["label_index"].to_numpy(), labels.source_map)
    view = FoldView(RowView(images, rows), table)
    test_sides = {plan.test.name: plan for plan in plans}
    recorded: dict[str, list[np.ndarray]] = {name: [] for name in test_sides}
    epochs: list[int] = []

    def record(epoch: int, model: torch.nn.Module) -> None:
        last = epoch == training.epochs
        if not (every_epoch or last):
            return
        epochs.append(epoch)
        for name, plan in test_sides.items():
            predicted = np.ones(len(plan.test_rows), bool) if last else plan.in_folds
            rows = plan.test_rows[predicted]
            labels = relabel(plan.test.labels[rows], plan.labels.target_map)
            loader = make_loader(
                ImageDataset(plan.test.images, rows, labels), training.batch_size, shuffle=False
            )
            predictions = np.full(len(plan.test_rows), NOT_PREDICTED, dtype=np.int64)
            predictions[predicted] = predict(model, loader, device)[1]
            recorded[name].append(predictions)

    full_spec = {
        **spec,
        "in_channels": _image_channels([train]),
        "num_classes": len(labels.classes),
    }
    with tracking.nested_run(
        f"train {train.name} [{len(labels.classes)} classes]",
        tags={"kind": "cross_database_training", "train_corpus": train.name},
        corpus=train.name,
    ):
        tracking.log_params(
            {
                "train_corpus": train.name,
                "test_corpora": [plan.test.name for plan in plans],
                "common_classes": list(labels.classes),
                "n_train": len(view),
                "augmented": train.augmented is not None,
                "training": params.training.model_dump(),
            }
        )
        tracking.log_dict(full_spec, "architecture_spec.json")
        train_network(
            lambda n_classes: build_model({**full_spec, "num_classes": n_classes}),
            view,
            len(labels.classes),
            training,
            params.training.weighted_loss,
            device,
            params.seed,
            after_epoch=record,
        )
    logger.info(
        "trained on %s (%d images, %d classes), tested on %s",
        train.name,
        len(view),
        len(labels.classes),
        ", ".join(test_sides),
    )
    return {name: np.stack(parts) for name, parts in recorded.items()}, epochs, len(view)


def _joined(names: Sequence[str]) -> str:
    return ", ".join(names)


def _score_rows(
    plan: PairPlan,
    protocols: Sequence[str],
    n_train: int | None = None,
    epoch_predictions: np.ndarray | None = None,
    epochs: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """One row of the long table per protocol (scores left empty for a skipped pair)."""
    base = {
        "train_corpus": plan.train.name,
        "test_corpus": plan.test.name,
        "common_classes": _joined(plan.labels.classes),
        "dropped_train_classes": _joined(plan.labels.dropped_source),
        "dropped_test_classes": _joined(plan.labels.dropped_target),
        "skipped_reason": plan.skipped,
        "n_train": n_train,
    }
    if plan.skipped or epoch_predictions is None:
        return [{**base, "protocol": protocol} for protocol in protocols]
    labels = relabel(plan.test.labels[plan.test_rows], plan.labels.target_map)
    n_classes = len(plan.labels.classes)
    rows = []
    for protocol in protocols:
        if protocol == "direct":
            scores = classification_metrics(labels, epoch_predictions[-1], n_classes)
            result = {
                "n_test": len(labels),
                **{key: scores[key] for key in ("accuracy", "uar", "uf1")},
                "epochs": str(epochs[-1]),
            }
        else:
            in_folds = plan.in_folds
            rotations = rotation_scores(
                epoch_predictions[:, in_folds],
                labels[in_folds],
                plan.target_fold[in_folds],
                n_classes,
                epochs,
            )
            result = {
                "n_test": int(in_folds.sum()),
                **{key: float(rotations[key].mean()) for key in ("accuracy", "uar", "uf1")},
                "accuracy_std": float(rotations["accuracy"].std(ddof=1)),
                "epochs": " ".join(map(str, rotations["epoch"])),
            }
        rows.append({**base, "protocol": protocol, **result})
    return rows


def _prediction_rows(
    plan: PairPlan, epoch_predictions: np.ndarray, epochs: Sequence[int]
) -> pd.DataFrame:
    """Every recorded epoch's predictions on the pair's test rows, in long format."""
    test = plan.test.samples.iloc[plan.test_rows]
    n_epochs, n_rows = epoch_predictions.shape
    table = pd.DataFrame(
        {
            "train_corpus": plan.train.name,
            "test_corpus": plan.test.name,
            "sample_id": np.tile(test["sample_id"].astype(str).to_numpy(), n_epochs),
            "subject": np.tile(test["subject"].astype(str).to_numpy(), n_epochs),
            "target_fold": np.tile(plan.target_fold, n_epochs),
            "epoch": np.repeat(np.asarray(epochs, dtype=np.int64), n_rows),
            "y_true": np.tile(
                relabel(plan.test.labels[plan.test_rows], plan.labels.target_map), n_epochs
            ),
            "y_pred": epoch_predictions.reshape(-1),
        }
    )
    return table[table["y_pred"] != NOT_PREDICTED].reset_index(drop=True)


def evaluate_pairs(
    corpora: Sequence[CorpusData], spec: dict[str, Any], params: CrossDatabaseParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on A, test on B for every ordered pair of ``corpora`` under ``params.protocols``.

    Returns the long table (one row per pair and protocol, ``SCORE_COLUMNS``) and every
    recorded epoch's predictions on the test images (``PREDICTION_COLUMNS``; y_true and
    y_pred index the pair's common classes).
    """
    _image_channels(corpora)
    plans = plan_pairs(corpora, params)
    every_epoch = "target_fold" in params.protocols
    groups: dict[tuple[str, tuple[str, ...]], list[PairPlan]] = {}
    for plan in plans:
        if not plan.skipped:
            groups.setdefault((plan.train.name, plan.labels.classes), []).append(plan)
    recorded: dict[tuple[str, str], tuple[np.ndarray, list[int], int]] = {}
    for group in groups.values():
        predictions, epochs, n_train = _train_and_record(group, spec, params, every_epoch)
        for plan in group:
            recorded[plan.train.name, plan.test.name] = (
                predictions[plan.test.name],
                epochs,
                n_train,
            )
    score_rows, prediction_parts = [], []
    for plan in plans:
        if plan.skipped:
            logger.warning("%s -> %s skipped: %s", plan.train.name, plan.test.name, plan.skipped)
            score_rows += _score_rows(plan, params.protocols)
            continue
        epoch_predictions, epochs, n_train = recorded[plan.train.name, plan.test.name]
        score_rows += _score_rows(plan, params.protocols, n_train, epoch_predictions, epochs)
        prediction_parts.append(_prediction_rows(plan, epoch_predictions, epochs))
    scores = pd.DataFrame(score_rows, columns=list(SCORE_COLUMNS))
    predictions = (
        pd.concat(prediction_parts, ignore_index=True)
        if prediction_parts
        else pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    )
    return scores, predictions


def score_matrix(scores: pd.DataFrame, corpora: Sequence[str], metric: str) -> pd.DataFrame:
    """``metric`` as train x test matrices, one per protocol: columns protocol, train_corpus
    and one per test corpus; empty (NaN) on the diagonal and for a skipped pair."""
    parts = []
    for protocol, part in scores.groupby("protocol", sort=False):
        matrix = part.pivot(index="train_corpus", columns="test_corpus", values=metric)
        matrix = matrix.reindex(index=list(corpora), columns=list(corpora)).astype(float)
        parts.append(matrix.rename_axis(index="train_corpus", columns=None).reset_index())
        parts[-1].insert(0, "protocol", protocol)
    return pd.concat(parts, ignore_index=True)


def matrices_figure(scores: pd.DataFrame, corpora: Sequence[str]) -> Figure:
    """Accuracy and UF1 heatmaps (train x test), one row per protocol."""
    protocols = list(dict.fromkeys(scores["protocol"]))
    figure = Figure(figsize=(10, 4.2 * len(protocols)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(protocols), 2))
    for row, protocol in enumerate(protocols):
        for column, metric in enumerate(("accuracy", "uf1")):
            matrix = score_matrix(scores[scores["protocol"] == protocol], corpora, metric)
            image = score_matrix_heatmap(
                axes[row, column],
                matrix.drop(columns="protocol").set_index("train_corpus"),
                f"{protocol}: {metric}",
            )
    figure.colorbar(image, ax=axes, shrink=0.6, label="score")
    figure.suptitle("cross-database: train on the row's corpus, test on the column's")
    return figure

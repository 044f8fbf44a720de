"""The RNAS-MER protocol: subject-disjoint searches, LOSO training and evaluation of the derived
networks, cross-database evaluation between the composite's sources.

Honesty rule: an architecture is only ever evaluated on subjects that the search which chose it
never saw (``plan_searches``), training runs a fixed number of epochs with no look at the
held-out subject, and metrics are computed once over the predictions pooled from all folds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from expression_nas import progress, tracking
from expression_nas.evaluation.metrics import (
    classification_metrics,
    confusion_matrix_figure,
    metrics_by_group,
    score_matrix_heatmap,
)
from expression_nas.evaluation.profiling import profile_model
from expression_nas.evaluation.protocols import (
    Fold,
    FoldView,
    RowView,
    loso_folds,
    run_loso,
    subject_groups,
    subject_validation_split,
)
from expression_nas.experiments.library_configs import (
    optimizer_config,
    rnas_search_config,
    search_settings,
)
from expression_nas.models.registry import build_model
from expression_nas.nas.rnas.drawing import draw_spec
from expression_nas.nas.rnas.search_space import RnasSupernet
from expression_nas.nas.search_loop import run_search
from expression_nas.parameters import RnasMerParams
from expression_nas.training.checkpoints import fingerprint
from expression_nas.training.data import ClipDataset, make_loader
from expression_nas.training.loop import predict, resolve_device, train_fixed_epochs
from expression_nas.training.workers import TrainingPool, worker_count

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchGroup:
    name: str
    search_subjects: list[str]
    evaluated_subjects: list[str]


def plan_searches(samples: pd.DataFrame, groups: str | int, seed: int) -> list[SearchGroup]:
    """Partition the subjects into groups; each group's subjects are evaluated with an
    architecture searched on all *other* subjects.

    ``by_source`` groups by source corpus (composite), which also makes each search usable for
    cross-database tests into the source it left out.
    """
    subjects = samples.drop_duplicates("subject")
    if groups == "by_source":
        assignment = dict(zip(subjects["subject"], subjects["dataset"], strict=True))
        if len(set(assignment.values())) < 2:
            raise ValueError(
                "rnas_mer.search_groups is 'by_source' but the corpus has one source; "
                "set an integer number of subject groups (e.g. 4) for a single corpus"
            )
    else:
        if int(groups) < 2:
            raise ValueError("rnas_mer.search_groups must be 'by_source' or an integer >= 2")
        assignment = {
            subject: f"group{group}"
            for subject, group in subject_groups(
                list(subjects["subject"]), int(groups), seed
            ).items()
        }
    plan = []
    for name in sorted(set(assignment.values())):
        evaluated = sorted(s for s, g in assignment.items() if g == name)
        searched = sorted(s for s, g in assignment.items() if g != name)
        plan.append(SearchGroup(name, searched, evaluated))
    return plan


def search_for_group(
    clips: np.ndarray,
    samples: pd.DataFrame,
    group: SearchGroup,
    params: RnasMerParams,
    classes: list[str],
    checkpoint_dir: Path,
) -> dict[str, Any]:
    """Run one search on ``group.search_subjects``; its spec, history, time and drawing."""
    device = resolve_device(params.device)
    rows = np.flatnonzero(samples["subject"].isin(group.search_subjects).to_numpy())
    train_rows, val_rows = subject_validation_split(
        rows, samples["subject"].to_numpy()[rows], params.validation_fraction, params.seed
    )
    labels = samples["label_index"].to_numpy()
    in_channels = 3 if clips.ndim == 5 else 1
    config = rnas_search_config(params, len(classes), in_channels)
    settings = search_settings(params.search, params.seed)
    search = params.search.model_dump(exclude={"resume"})  # what the search's results depend on
    gain = params.input.onset_difference_gain
    loader_train = make_loader(
        ClipDataset(clips, train_rows, labels[train_rows], gain),
        settings.batch_size,
        True,
        params.seed,
    )
    loader_val = make_loader(
        ClipDataset(clips, val_rows, labels[val_rows], gain),
        settings.batch_size,
        False,
        params.seed,
    )
    key = fingerprint(
        config.to_dict(), search, params.seed, sorted(samples["sample_id"].iloc[rows])
    )
    checkpoint = checkpoint_dir / f"search_{group.name}_{key}.pt"
    if not params.search.resume and checkpoint.exists():
        checkpoint.unlink(missing_ok=True)  # under torchrun every rank may try

    torch.manual_seed(params.seed)
    model = RnasSupernet(config)
    name = f"search[{params.variant}] without {group.name}"
    with tracking.nested_run(name, tags={"kind": "search"}, variant=params.variant):
        tracking.log_params(
            {
                "variant": params.variant,
                "left_out": group.name,
                "search_subjects": len(group.search_subjects),
                "train_samples": len(train_rows),
                "val_samples": len(val_rows),
                "search_space": config.to_dict(),
                "search": search,
            }
        )

        result = run_search(
            model,
            loader_train,
            loader_val,
            settings,
            checkpoint,
            key,
            device,
            tracking.log_search_epoch,
        )
        spec = result.spec
        spec["provenance"] = {
            "strategy": "rnas",
            "variant": params.variant,
            "left_out": group.name,
            "search_subjects": group.search_subjects,
            "search_seconds": round(result.seconds, 2),
        }
        drawing = draw_spec(spec)
        tracking.log_dict(spec, "architecture_spec.json")
        tracking.log_figure(drawing, "architecture.png")
        tracking.log_dict(result.arch_history, "architecture_weights/history.json")
        tracking.log_metrics({"search_seconds": result.seconds})
    return {"spec": spec, "history": result.history, "seconds": result.seconds, "drawing": drawing}


def trained_spec(spec: dict[str, Any], params: RnasMerParams) -> dict[str, Any]:
    """The searched architecture as it is trained: with the training's dropout rate before
    the classifier."""
    return {**spec, "dropout": params.training.dropout}


def train_network(
    spec: dict[str, Any], view: FoldView, params: RnasMerParams, log_epochs: bool = False
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train the network of ``trained_spec(spec)`` from scratch for a fixed number of epochs on
    ``view``; the model and its per-epoch records (``log_epochs``: logged as they come)."""
    torch.manual_seed(params.seed)
    model = build_model(trained_spec(spec, params))
    config = optimizer_config(params.training)
    loader = make_loader(
        ClipDataset(
            view.clips, np.arange(len(view)), view.labels, params.input.onset_difference_gain
        ),
        config.batch_size,
        True,
        params.seed,
    )
    history = train_fixed_epochs(
        model,
        loader,
        config,
        device=resolve_device(params.device),
        on_epoch_end=(lambda _, record: tracking.log_training_epoch(record))
        if log_epochs
        else None,
        seed=params.seed,
    )
    return model, history


def predict_view(model: torch.nn.Module, view: FoldView, params: RnasMerParams) -> np.ndarray:
    loader = make_loader(
        ClipDataset(
            view.clips, np.arange(len(view)), view.labels, params.input.onset_difference_gain
        ),
        params.training.batch_size,
        False,
        params.seed,
    )
    _, y_pred, _ = predict(model, loader, resolve_device(params.device))
    return y_pred


def _training_pool(clips: Any, samples: pd.DataFrame, tasks: int, params: RnasMerParams):
    workers = worker_count(params.training.workers, tasks, resolve_device(params.device))
    return TrainingPool(workers, {"clips": clips, "samples": samples}, preload=[__name__])


def _loso_fold(
    shared: dict[str, Any], task: tuple[dict[str, Any], Fold], params: RnasMerParams
) -> tuple[pd.DataFrame, list[dict[str, float]]]:
    """One LOSO fold (a ``TrainingPool`` job): its predictions and its training records."""
    spec, fold = task
    histories: list[list[dict[str, float]]] = []

    def train(view: FoldView) -> torch.nn.Module:
        model, history = train_network(spec, view, params)
        histories.append(history)
        return model

    part = run_loso(
        shared["clips"],
        shared["samples"],
        train,
        lambda model, view: predict_view(model, view, params),
        folds=[fold],
    )
    return part, histories[0]


def loso_evaluation(
    clips: np.ndarray,
    samples: pd.DataFrame,
    specs: dict[str, dict[str, Any]],
    plan: list[SearchGroup],
    params: RnasMerParams,
) -> pd.DataFrame:
    """Leave-one-subject-out training of the derived networks; each fold's subject is evaluated
    with the architecture of the search that left its group out. Returns pooled predictions.
    The folds train side by side in ``params.training.workers`` processes (``TrainingPool``);
    each fold is seeded alike, so which worker trains it does not matter."""
    group_of = {subject: group.name for group in plan for subject in group.evaluated_subjects}
    originals = samples["copy"].to_numpy() == 0 if "copy" in samples.columns else None
    folds = loso_folds(samples["subject"].tolist(), test_mask=originals)
    tasks = [(specs[group_of[fold.test_subject]], fold) for fold in folds]
    parts = []
    with (
        tracking.nested_run(f"loso[{params.variant}]", tags={"kind": "evaluation"}),
        _training_pool(clips, samples, len(tasks), params) as pool,
    ):
        tracking.log_params({"variant": params.variant, "training": params.training.model_dump()})
        outcomes = pool.map(partial(_loso_fold, params=params), tasks)
        for fold, (part, history) in zip(
            folds, progress.track(outcomes, "LOSO", "fold", total=len(folds)), strict=True
        ):
            group = group_of[fold.test_subject]
            with tracking.nested_run(
                f"fold {fold.test_subject}", tags={"kind": "fold"}, fold=fold.test_subject
            ):
                tracking.log_params({"test_subject": fold.test_subject, "architecture": group})
                for record in history:
                    tracking.log_training_epoch(record)
                tracking.log_metrics(
                    {
                        "fold_accuracy": float((part["y_true"] == part["y_pred"]).mean()),
                        "n": len(part),
                    }
                )
            parts.append(part.assign(fold=fold.test_subject, architecture=group))
    return pd.concat(parts, ignore_index=True)


def summarize_predictions(predictions: pd.DataFrame, classes: list[str]) -> dict[str, Any]:
    """Accuracy, UAR and UF1 over the pooled predictions, and the same per source corpus."""
    overall = classification_metrics(predictions["y_true"], predictions["y_pred"], len(classes))
    by_source = metrics_by_group(predictions, "dataset", n_classes=len(classes))
    return {
        "classes": classes,
        **overall,
        "chance_uf1_uniform": 1.0 / len(classes),
        "by_source": by_source.reset_index().to_dict("records"),
    }


def confusion_figure(predictions: pd.DataFrame, classes: list[str], title: str):
    return confusion_matrix_figure(predictions["y_true"], predictions["y_pred"], classes, title)


def _cross_database_pair(
    shared: dict[str, Any], task: tuple[dict[str, Any], str, str], params: RnasMerParams
) -> tuple[np.ndarray, np.ndarray]:
    """Train on every row of ``source``, predict the original clips of ``target`` (a
    ``TrainingPool`` job): the true and the predicted labels."""
    spec, source, target = task
    clips, samples = shared["clips"], shared["samples"]
    dataset = samples["dataset"].to_numpy()
    originals = (
        samples["copy"].to_numpy() == 0
        if "copy" in samples.columns
        else np.ones(len(samples), bool)
    )
    train_rows = np.flatnonzero(dataset == source)
    test_rows = np.flatnonzero((dataset == target) & originals)
    train_view = FoldView(
        RowView(clips, train_rows), samples.iloc[train_rows].reset_index(drop=True)
    )
    test_view = FoldView(RowView(clips, test_rows), samples.iloc[test_rows].reset_index(drop=True))
    model, _ = train_network(spec, train_view, params)
    return test_view.labels, predict_view(model, test_view, params)


def cross_database(
    clips: np.ndarray,
    samples: pd.DataFrame,
    specs: dict[str, dict[str, Any]],
    params: RnasMerParams,
    classes: list[str],
) -> pd.DataFrame:
    """Train on every row of source A, test on the original clips of source B, for every
    ordered pair. The architecture used for A -> B is the one searched without B, so the target
    corpus took no part in choosing it. Labels are already on the composite's common classes.
    The pairs train side by side in ``params.training.workers`` processes."""
    sources = sorted(samples["dataset"].unique())
    if len(sources) < 2 or not set(sources) <= set(specs):
        logger.info("cross-database evaluation needs searches grouped by source; skipped")
        return pd.DataFrame(columns=["train", "test", "n", "accuracy", "uar", "uf1"])
    pairs = [(source, target) for source in sources for target in sources if source != target]
    tasks = [(specs[target], source, target) for source, target in pairs]
    rows = []
    with (
        tracking.nested_run(f"cross_database[{params.variant}]", tags={"kind": "cross_database"}),
        _training_pool(clips, samples, len(tasks), params) as pool,
    ):
        outcomes = pool.map(partial(_cross_database_pair, params=params), tasks)
        for (source, target), (y_true, y_pred) in zip(
            pairs, progress.track(outcomes, "cross-database", "pair", total=len(pairs)), strict=True
        ):
            scores = classification_metrics(y_true, y_pred, len(classes))
            row = {"train": source, "test": target, "n": len(y_true)}
            row.update({k: scores[k] for k in ("accuracy", "uar", "uf1")})
            rows.append(row)
            tracking.log_metrics({f"{source}_to_{target}_uf1": scores["uf1"]})
            logger.info(
                "cross-database %s -> %s: UF1 %.3f (n=%d)",
                source,
                target,
                scores["uf1"],
                len(y_true),
            )
    return pd.DataFrame(rows)


def cross_database_figure(matrix: pd.DataFrame):
    figure, axis = plt.subplots(figsize=(4.2, 3.6))
    if matrix.empty:
        axis.text(0.5, 0.5, "no cross-database pairs", ha="center", va="center")
        axis.axis("off")
        return figure
    table = matrix.pivot(index="train", columns="test", values="uf1")
    image = score_matrix_heatmap(axis, table, "cross-database UF1")
    figure.colorbar(image, ax=axis, label="UF1")
    figure.tight_layout()
    return figure


def train_release_model(
    clips: np.ndarray,
    samples: pd.DataFrame,
    specs: dict[str, dict[str, Any]],
    params: RnasMerParams,
) -> dict[str, Any]:
    """Profile every searched architecture, and train one on all subjects as the model to
    release (the first group's architecture; it is not evaluated: LOSO did that)."""
    device = resolve_device(params.device)
    input_shape = (1, 3 if clips.ndim == 5 else 1, *clips.shape[1:4])
    profiles = {}
    for group, spec in specs.items():
        profiles[group] = profile_model(
            build_model(spec), input_shape, device, params.profiling.latency_repeats
        )
    release_group = sorted(specs)[0]
    everyone = np.arange(len(samples))
    with tracking.nested_run(f"model[{params.variant}]", tags={"kind": "model"}):
        tracking.log_params(
            {
                "variant": params.variant,
                "architecture": release_group,
                "training": params.training.model_dump(),
            }
        )
        model, _ = train_network(
            specs[release_group],
            FoldView(RowView(clips, everyone), samples.reset_index(drop=True)),
            params,
            log_epochs=True,
        )
        tracking.log_metrics({f"release_{k}": v for k, v in profiles[release_group].items()})
        tracking.log_dict(trained_spec(specs[release_group], params), "architecture_spec.json")
        tracking.log_torch_model(model.cpu().eval())
    return {
        "release_architecture": release_group,
        "profiles": profiles,
        "input_shape": list(input_shape),
    }

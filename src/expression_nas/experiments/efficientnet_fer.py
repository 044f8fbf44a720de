"""The protocol of ``efficientnet_fer`` (seed 003): which data the trials see, the retraining
of the best configuration, the evaluation and the seed's two comparisons.

- Trials: the search corpus's standard split (FER2013). Each trial trains on Training (at
  most ``search_training.max_train_images`` of it, a stratified draw) and is early-stopped,
  scored and compared on PublicTest; it minimises the best validation loss (the validation
  accuracy at that epoch is a user attribute). A trial receives copies of those rows only,
  so PrivateTest never reaches a worker process.
- Final models: the best trial's configuration retrained from scratch on every evaluation
  corpus under its protocol (``fer_evaluation.plan_folds``): FER2013 trains on Training,
  stops on PublicTest and is tested once on PrivateTest; CK+ and JAFFE run
  person-independent k-fold, each fold stopping on subjects held out of its training
  subjects and tested once on its test subjects.
- Comparisons: ``experiments.efficientnet_comparisons``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch
from matplotlib.figure import Figure
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from torch import nn

from expression_nas import progress, tracking
from expression_nas.evaluation.profiling import count_parameters, profile_model
from expression_nas.experiments.fer_evaluation import (
    FER_PREDICTION_COLUMNS,
    Labelled,
    class_weights,
    corpus_spec,
    in_channels_of,
    plan_folds,
    summarize_fer,
    training_rows,
)
from expression_nas.experiments.library_configs import early_stopping_config, study_config
from expression_nas.hpo.optuna_study import (
    HISTORY_ATTR,
    log_trials,
    open_study,
    run_study,
    search_seconds,
    study_figures,
    suggest,
    trial_rows,
)
from expression_nas.models.efficientnet_net import efficientnet_spec
from expression_nas.models.registry import build_model
from expression_nas.parameters.efficientnet_fer import (
    EarlyStoppingTrainingParams,
    EfficientnetFerParams,
    IntRange,
    SearchSpaceParams,
)
from expression_nas.preprocessing.augmentation import AugmentationConfig, ClipAugmenter
from expression_nas.training.early_stopping import EarlyStoppingResult, train_early_stopping
from expression_nas.training.loop import predict, resolve_device

logger = logging.getLogger(__name__)

#: the searched hyper-parameters (seed 003 sec. 4.5.2.3), in the order of the plots
SEARCHED = ("lr", "width_coefficient", "depth_coefficient", "dropout", "top_filters")
EVALUATION_BATCH = 256
#: Optuna's plots, as ``hpo.optuna_study.study_figures`` names them
STUDY_PLOTS = ("optimization_history", "parallel_coordinate", "param_importances", "slice")


def search_space(space: SearchSpaceParams) -> dict[str, BaseDistribution]:
    """The parameters' ranges as Optuna distributions."""
    dimensions: dict[str, BaseDistribution] = {}
    for name in SEARCHED:
        value = getattr(space, name)
        if isinstance(value, IntRange):
            dimensions[name] = IntDistribution(value.low, value.high, step=value.step)
        else:
            dimensions[name] = FloatDistribution(
                value.low, value.high, step=value.step, log=value.log
            )
    return dimensions


def configured_spec(
    values: dict[str, Any],
    in_channels: int,
    num_classes: int,
    variant: str,
    stochastic_depth_prob: float,
) -> dict[str, Any]:
    """The network of one configuration. Coefficients are rounded to 10 decimals first: the
    grid's 0.6000000000000001 would otherwise make ceil(15 * depth) 10 instead of 9."""
    return efficientnet_spec(
        in_channels,
        num_classes,
        variant=variant,
        width_coefficient=round(float(values["width_coefficient"]), 10),
        depth_coefficient=round(float(values["depth_coefficient"]), 10),
        top_filters=int(values["top_filters"]),
        dropout=round(float(values["dropout"]), 10),
        stochastic_depth_prob=stochastic_depth_prob,
    )


def fit(
    spec: dict[str, Any],
    lr: float,
    train: Labelled,
    validation: Labelled,
    training: EarlyStoppingTrainingParams,
    augmentation: AugmentationConfig,
    seed: int,
    device: str | torch.device,
    on_epoch_end=None,
) -> tuple[nn.Module, EarlyStoppingResult]:
    """``spec`` trained from scratch with Adam at ``lr`` on ``train`` until ``validation``'s
    loss stops improving; the model holds its best epoch's weights."""
    torch.manual_seed(seed)
    model = build_model(spec)
    augmenter = ClipAugmenter(augmentation) if training.augment else None
    train_loader = train.loader(training.batch_size, True, seed, augmenter)
    weights = class_weights(train.labels, spec["num_classes"]) if training.weighted_loss else None
    result = train_early_stopping(
        model,
        train_loader,
        validation.loader(EVALUATION_BATCH),
        early_stopping_config(training, lr),
        device=device,
        class_weights=weights,
        on_epoch_end=on_epoch_end,
        seed=seed,
    )
    return model, result


@dataclass(frozen=True)
class EfficientNetObjective:
    """One trial: a configuration drawn from ``space``, trained with early stopping on
    ``train`` and scored by its best validation loss. Picklable, for the worker processes."""

    train: Labelled
    validation: Labelled
    space: dict[str, BaseDistribution]
    in_channels: int
    num_classes: int
    variant: str
    stochastic_depth_prob: float
    training: EarlyStoppingTrainingParams
    augmentation: AugmentationConfig
    seed: int
    device: str

    def __call__(self, trial: optuna.Trial) -> float:
        values = suggest(trial, self.space)
        spec = configured_spec(
            values, self.in_channels, self.num_classes, self.variant, self.stochastic_depth_prob
        )
        history: list[dict] = []

        def report(epoch: int, record: dict) -> None:
            history.append({k: v for k, v in record.items() if k != "seconds"})
            trial.report(record["val_loss"], epoch)
            if trial.should_prune():
                trial.set_user_attr(HISTORY_ATTR, history)
                trial.set_user_attr("stop_epoch", epoch)
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        model, result = fit(
            spec,
            values["lr"],
            self.train,
            self.validation,
            self.training,
            self.augmentation,
            self.seed + trial.number,
            resolve_device(self.device),
            on_epoch_end=report,
        )
        trial.set_user_attr(HISTORY_ATTR, history)
        trial.set_user_attr("val_accuracy", result.best_val_accuracy)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("stop_epoch", result.stop_epoch)
        trial.set_user_attr("seconds_per_epoch", result.seconds_per_epoch)
        trial.set_user_attr("parameters", count_parameters(model))
        return result.best_val_loss


def search_rows(
    samples: pd.DataFrame, limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the search corpus's standard split: Training (at most ``limit``, a stratified
    draw), PublicTest and PrivateTest. Trials get the first two only."""
    (plan,) = plan_folds(samples.reset_index(drop=True), "standard_split", 2, seed, 0.5)
    return training_rows(plan, samples, limit, seed), plan.search_validation, plan.test


def trial_objective(
    images: Any,
    samples: pd.DataFrame,
    classes: list[str],
    params: EfficientnetFerParams,
    augmentation: AugmentationConfig,
) -> EfficientNetObjective:
    """The objective of the study, holding copies of the rows a trial may see."""
    samples = samples.reset_index(drop=True)
    train_rows, validation_rows, _ = search_rows(
        samples, params.search_training.max_train_images, params.seed
    )
    return EfficientNetObjective(
        train=Labelled.rows(images, samples, train_rows),
        validation=Labelled.rows(images, samples, validation_rows),
        space=search_space(params.space),
        in_channels=in_channels_of(images),
        num_classes=len(classes),
        variant=params.network.variant,
        stochastic_depth_prob=params.network.stochastic_depth_prob,
        training=params.search_training,
        augmentation=augmentation,
        seed=params.seed,
        device=params.device,
    )


def run_search(
    images: Any,
    samples: pd.DataFrame,
    classes: list[str],
    params: EfficientnetFerParams,
    augmentation: AugmentationConfig,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """Bring the study to ``study.n_trials`` finished trials (resuming it), log its trials to
    MLflow; returns the search report, the trials table and the best configuration's spec."""
    objective = trial_objective(images, samples, classes, params, augmentation)
    config = study_config(params)
    study, run = run_study(config, objective, params.study.n_trials, params.study.n_workers)
    log_trials(study, config)
    try:
        best = study.best_trial
    except ValueError as error:
        raise RuntimeError(
            f"study {config.key} has no complete trial; the failed trials' reasons are in the "
            "log above"
        ) from error
    spec = configured_spec(
        best.params,
        in_channels_of(images),
        len(classes),
        params.network.variant,
        params.network.stochastic_depth_prob,
    )
    spec["provenance"] = {
        "strategy": "optuna_tpe",
        "study": config.key,
        "trial": best.number,
        "lr": best.params["lr"],
        "val_loss": best.value,
        "val_accuracy": best.user_attrs.get("val_accuracy"),
    }
    rows = trial_rows(study)
    cost = search_seconds(study)
    report = {
        "study": config.key,
        "variant": params.network.variant,
        "train_images": len(objective.train.labels),
        "validation_images": len(objective.validation.labels),
        "best": {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "val_accuracy": best.user_attrs.get("val_accuracy"),
            "stop_epoch": best.user_attrs.get("stop_epoch"),
        },
        "this_run": run,
        "trials": len(rows),
        "search_seconds": cost,
    }
    tracking.log_params({"best": best.params})
    tracking.log_metrics(
        {
            "best_val_loss": best.value,
            "best_val_accuracy": best.user_attrs.get("val_accuracy", float("nan")),
            "search_seconds": cost,
            "finished_trials": run["finished_after"],
        }
    )
    logger.info(
        "study %s: %d trials (%d finished, %.0f s of trials); best trial %d: %s, loss %.4f",
        config.key,
        len(rows),
        run["finished_after"],
        cost,
        best.number,
        best.params,
        best.value,
    )
    return report, pd.DataFrame(rows), spec


def study_figures_of(params: EfficientnetFerParams) -> dict[str, Figure]:
    """Optuna's plots of the pipeline's study, read back from its storage."""
    return study_figures(open_study(study_config(params)))


def evaluate_corpus(
    images: Any,
    samples: pd.DataFrame,
    classes: list[str],
    corpus: str,
    spec: dict[str, Any],
    search_cost: float,
    params: EfficientnetFerParams,
    augmentation: AugmentationConfig,
) -> tuple[pd.DataFrame, dict[str, Any], nn.Module]:
    """The best configuration retrained from scratch on each fold of ``corpus``'s protocol;
    returns the pooled predictions, the metrics (with the costs and the search cost) and the
    first fold's model."""
    samples = samples.reset_index(drop=True)
    evaluation = params.evaluation[corpus]
    device = resolve_device(params.device)
    spec = corpus_spec(spec, images, len(classes))
    lr = spec["provenance"]["lr"]
    plans = plan_folds(
        samples, evaluation.protocol, evaluation.k, params.seed, evaluation.validation_fraction
    )
    parts, models, epochs = [], [], []
    tags = {"kind": "evaluation", "strategy": "efficientnet"}
    with tracking.nested_run(f"model[efficientnet] {corpus}", tags=tags, corpus=corpus):
        tracking.log_params(
            {"corpus": corpus, "protocol": evaluation.protocol, "spec": spec, "lr": lr}
        )
        for plan in progress.track(plans, corpus, "fold"):
            with tracking.nested_run(f"fold {plan.name}", tags={"kind": "fold"}, fold=plan.name):
                model, result = fit(
                    spec,
                    lr,
                    Labelled.rows(images, samples, plan.search_train),
                    Labelled.rows(images, samples, plan.search_validation),
                    params.final_training,
                    augmentation,
                    params.seed,
                    device,
                    on_epoch_end=log_epoch,
                )
                test = Labelled.rows(images, samples, plan.test)
                _, y_pred, _ = predict(model, test.loader(EVALUATION_BATCH), device)
                part = samples.iloc[plan.test][["sample_id", "subject"]].assign(
                    fold=plan.name, y_true=test.labels, y_pred=y_pred
                )
                accuracy = float(np.mean(part["y_true"] == part["y_pred"]))
                tracking.log_metrics({"fold_accuracy": accuracy, "best_epoch": result.best_epoch})
            logger.info(
                "%s %s: kept epoch %d of %d, accuracy %.3f on %d images",
                corpus,
                plan.name,
                result.best_epoch,
                result.stop_epoch,
                accuracy,
                len(part),
            )
            parts.append(part)
            models.append(model)
            epochs.append({"fold": plan.name, "best": result.best_epoch, "stop": result.stop_epoch})
        predictions = pd.concat(parts, ignore_index=True)[list(FER_PREDICTION_COLUMNS)]
        metrics = summarize_fer(predictions, classes)
        size = tuple(images.shape[1:3])
        costs = profile_model(build_model(spec), (1, spec["in_channels"], *size), device)
        metrics.update(
            corpus=corpus,
            strategy="efficientnet",
            protocol=evaluation.protocol,
            costs=costs,
            search_seconds=search_cost,
            epochs=epochs,
        )
        tracking.log_metrics({k: metrics[k] for k in ("accuracy", "uar", "uf1")})
        tracking.log_metrics({**costs, "search_seconds": search_cost})
    return predictions, metrics, models[0]


def log_epoch(epoch: int, record: dict) -> None:
    """One epoch's record as MLflow metrics (step = epoch) of the active run."""
    tracking.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=epoch)

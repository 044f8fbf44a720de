"""The protocol of ``surrogate_hpo_fer`` (seed 001): which data each search and training sees,
the rows of the Table-4-like report, the final training and the test.

Data per corpus:
- ``standard_split`` (FER2013): the weights train on usage Training, the objective of every
  search (and the competition of Algorithm 1, and the grid) scores on PublicTest, and
  PrivateTest is predicted once, by the network trained from scratch with the selected
  setting.
- ``kfold`` (CK+, JAFFE): person-independent folds; in each fold a share of the training
  subjects is held out to score the searches, the final network trains on all the fold's
  training subjects, and the fold's test subjects are predicted once. No test subject ever
  reaches a search (``plan_folds`` is the one place that decides; a test checks it).

Rows (``parameters.surrogate_hpo_fer.METHODS``): ``baseline`` (the softmax loss alone),
``defaults_<group>`` (the seed's defaults, lambda 1e-5 and p 0.5, on the group), ``de_<group>``
and ``pso_<group>`` (Algorithm 1 over the group, the rest off), ``random_all`` (Algorithm 1
with random draws: the same number of surrogate evaluations), ``grid`` (the tied grid, each
point an original network trained from scratch). Groups: ``lambda`` (the four coefficients),
``dropout`` (the four drop probabilities), ``all`` (the eight); on ResNet20 only those of z
and V exist.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch.nn import functional as F

from expression_nas import tracking
from expression_nas.evaluation.metrics import NO_PREDICTION, classification_metrics
from expression_nas.evaluation.profiling import count_flops, count_parameters
from expression_nas.experiments.fer_evaluation import plan_folds
from expression_nas.hpo.sparseness import (
    DROPOUTS,
    HYPERPARAMETERS,
    LAMBDAS,
    FittingWeights,
    SparsenessSetting,
)
from expression_nas.hpo.surrogate_search import (
    SEED_DEFAULTS,
    SgdSchedule,
    SurrogateSearchConfig,
    TensorSplit,
    evaluate,
    grid_search,
    surrogate_search,
    tied_grid,
    train_alone,
)
from expression_nas.models.registry import build_model
from expression_nas.models.surrogate_net import DROPOUT_KEYS, surrogate_spec
from expression_nas.parameters.surrogate_hpo_fer import SurrogateHpoFerParams

logger = logging.getLogger(__name__)

GROUPS = {"lambda": LAMBDAS, "dropout": DROPOUTS, "all": HYPERPARAMETERS}


def tunable(backbone: str) -> tuple[str, ...]:
    """The hyper-parameters a backbone's head has (ResNet20: those of z and V)."""
    keys = DROPOUT_KEYS[backbone]
    return tuple(n for n in HYPERPARAMETERS if n.split("_", 1)[1] in keys)


def method_group(method: str, backbone: str) -> tuple[str, ...]:
    """The hyper-parameters ``method`` (e.g. ``pso_lambda``) tunes or sets on ``backbone``."""
    group = method.rsplit("_", 1)[1] if "_" in method else "all"
    return tuple(n for n in GROUPS[group] if n in tunable(backbone))


def tensor_split(images: Any, samples: pd.DataFrame, rows: np.ndarray, size: int) -> TensorSplit:
    """Rows of the prepared uint8 stills as float [N, C, size, size] in [0, 1] (resized once,
    with antialiasing) and their label indices."""
    array = np.stack([np.asarray(images[int(r)]) for r in rows]).astype(np.float32) / 255.0
    tensor = torch.from_numpy(array)
    tensor = tensor.unsqueeze(1) if tensor.ndim == 3 else tensor.permute(0, 3, 1, 2)
    if tensor.shape[-1] != size or tensor.shape[-2] != size:
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
    labels = torch.as_tensor(samples["label_index"].to_numpy()[rows], dtype=torch.int64)
    return TensorSplit(tensor.contiguous(), labels)


def schedule_of(params: SurrogateHpoFerParams) -> SgdSchedule:
    return SgdSchedule(**params.solver.model_dump())


def search_config(
    params: SurrogateHpoFerParams, optimizer: str, tuned: tuple[str, ...]
) -> SurrogateSearchConfig:
    search = params.search
    return SurrogateSearchConfig(
        optimizer=optimizer,
        tuned=tuned,
        population=search.population,
        rounds=search.rounds,
        iterations_per_round=search.iterations_per_round,
        lambda_bounds=tuple(search.lambda_bounds),
        dropout_bounds=tuple(search.dropout_bounds),
        schedule=schedule_of(params),
        eta=FittingWeights(*(search.eta,) * 4),
        kappa=search.kappa,
        de_mutation=search.de_mutation,
        de_crossover=search.de_crossover,
        pso_inertia=search.pso_inertia,
        pso_cognitive=search.pso_cognitive,
        pso_social=search.pso_social,
        seed=params.seed,
    )


def _log_round(record: dict[str, Any]) -> None:
    tracking.log_metrics(
        {k: record[k] for k in ("best_objective", "objective_spread", "best_ever_objective")},
        step=record["round"],
    )
    tracking.log_dict(record, f"rounds/round_{record['round']:03d}.json")


def choose_setting(
    method: str,
    spec: dict[str, Any],
    train: TensorSplit,
    validation: TensorSplit,
    params: SurrogateHpoFerParams,
    checkpoint: Path | None,
) -> tuple[SparsenessSetting, dict[str, Any]]:
    """The setting of one report row, and what choosing it cost (searches: their rounds)."""
    if method == "selected":
        method = f"{params.optimizer}_all"
    names = method_group(method, spec["backbone"])
    if method == "baseline":
        return SparsenessSetting(), {"evaluations": 0, "original_trainings": 0}
    if method.startswith("defaults_"):
        setting = SparsenessSetting().with_values({n: getattr(SEED_DEFAULTS, n) for n in names})
        return setting, {"evaluations": 0, "original_trainings": 0}
    if method == "grid":
        grid = tied_grid(names, params.grid.dropout, params.grid.log10_lambda)
        setting, rows = grid_search(
            spec,
            grid,
            train,
            validation,
            params.grid.iterations,
            schedule_of(params),
            params.search.kappa,
            params.seed,
        )
        return setting, {"evaluations": 0, "original_trainings": len(grid), "grid": rows}
    optimizer = method.split("_", 1)[0]
    config = search_config(params, optimizer, names)
    result = surrogate_search(
        spec,
        train,
        validation,
        config,
        checkpoint_path=checkpoint if params.search.resume else None,
        on_round_end=_log_round,
    )
    return result.selected, {
        "evaluations": result.surrogate_evaluations,
        "original_trainings": result.original_rounds,
        "search_seconds": result.seconds,
        "history": result.history,
        "selected_validation_accuracy": result.selected_validation_accuracy,
    }


def train_and_test(
    spec: dict[str, Any],
    setting: SparsenessSetting,
    train: TensorSplit,
    test: TensorSplit,
    params: SurrogateHpoFerParams,
    repeat: int,
) -> tuple[np.ndarray, torch.nn.Module]:
    """The original network trained from scratch with ``setting`` and its test predictions."""
    torch.manual_seed(params.seed + repeat)
    network = build_model(spec | {"part": "original"})
    train_alone(
        network,
        setting,
        train,
        params.final_training.iterations,
        0,
        schedule_of(params),
        seed=params.seed * 31 + repeat,
    )
    _, _, predicted = evaluate(network, test)
    return predicted, network


def selected_spec(spec: dict[str, Any], setting: SparsenessSetting) -> dict[str, Any]:
    """The original network's spec with the selected drop probabilities; the coefficients,
    which shape training and not the network, ride along as ``sparseness`` provenance."""
    keys = DROPOUT_KEYS[spec["backbone"]]
    return spec | {
        "dropout": {key: getattr(setting, f"p_{key}") for key in keys},
        "sparseness": {name: getattr(setting, name) for name in LAMBDAS},
    }


def original_spec(params: SurrogateHpoFerParams, n_classes: int, in_channels: int) -> dict:
    return surrogate_spec(
        params.network.backbone, n_classes, in_channels, params.network.input_size
    )


def run_corpus(
    images: Any,
    samples: pd.DataFrame,
    classes: list[str],
    corpus: str,
    params: SurrogateHpoFerParams,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Every report row of ``corpus``: returns the report (one row per method, metrics over
    the predictions pooled from every fold), the pooled predictions of every method and the
    searches' histories (per method, per fold)."""
    evaluation = params.evaluation[corpus]
    samples = samples.reset_index(drop=True)
    in_channels = 3 if np.asarray(images[0]).ndim == 3 else 1
    spec = original_spec(params, len(classes), in_channels)
    size = params.network.input_size
    plans = plan_folds(
        samples, evaluation.protocol, evaluation.k, params.seed, evaluation.validation_fraction
    )
    splits = {
        plan.name: {
            part: tensor_split(images, samples, getattr(plan, part), size)
            for part in ("search_train", "search_validation", "final_train", "test")
        }
        for plan in plans
    }
    predictions, rows, histories = [], [], {}
    for method in evaluation.methods:
        started = time.perf_counter()
        costs = {"evaluations": 0, "original_trainings": 0, "diverged_trainings": 0}
        settings = {}
        with tracking.nested_run(
            f"hpo[{method}] {corpus}", tags={"kind": "hpo", "method": method}, corpus=corpus
        ):
            tracking.log_params(
                {"corpus": corpus, "method": method, "protocol": evaluation.protocol}
            )
            for plan in plans:
                checkpoint = Path(params.checkpoint_dir) / corpus / f"{method}_{plan.name}.pt"
                data = splits[plan.name]
                setting, cost = choose_setting(
                    method,
                    spec,
                    data["search_train"],
                    data["search_validation"],
                    params,
                    checkpoint,
                )
                settings[plan.name] = setting.as_dict()
                costs["evaluations"] += cost["evaluations"]
                costs["original_trainings"] += cost["original_trainings"]
                histories.setdefault(method, {})[plan.name] = cost
                test = data["test"]
                for repeat in range(params.final_training.repeats):
                    try:
                        predicted, _ = train_and_test(
                            spec, setting, data["final_train"], test, params, repeat
                        )
                    except FloatingPointError as error:
                        # The report keeps the row: a diverged network predicts nothing.
                        logger.warning(
                            "%s %s fold %s: the final training diverged (%s); its test "
                            "images count as wrong",
                            corpus,
                            method,
                            plan.name,
                            error,
                        )
                        predicted = np.full(len(test.labels), NO_PREDICTION)
                        costs["diverged_trainings"] += 1
                    predictions.append(
                        samples.iloc[plan.test][["sample_id", "subject"]].assign(
                            method=method,
                            fold=plan.name,
                            repeat=repeat,
                            y_true=test.labels.numpy(),
                            y_pred=predicted,
                        )
                    )
            part = pd.concat([p for p in predictions if p["method"].iloc[0] == method])
            scores = classification_metrics(part["y_true"], part["y_pred"], len(classes))
            row = {
                "corpus": corpus,
                "method": method,
                "accuracy": scores["accuracy"],
                "uar": scores["uar"],
                "uf1": scores["uf1"],
                "n_test": int(len(part) / params.final_training.repeats),
                "surrogate_evaluations": costs["evaluations"],
                "original_trainings": costs["original_trainings"],
                "diverged_trainings": costs["diverged_trainings"],
                "seconds": time.perf_counter() - started,
                "settings": settings,
            }
            tracking.log_params({"settings": settings})
            tracking.log_metrics({k: row[k] for k in ("accuracy", "uar", "uf1")})
            logger.info(
                "%s %s: accuracy %.3f, UAR %.3f, UF1 %.3f (%d surrogate evaluations, %.0f s)",
                corpus,
                method,
                row["accuracy"],
                row["uar"],
                row["uf1"],
                row["surrogate_evaluations"],
                row["seconds"],
            )
            rows.append(row)
    return pd.DataFrame(rows), pd.concat(predictions, ignore_index=True), histories


def convergence_figure(histories: dict[str, Any], corpus: str) -> Figure:
    """Best objective so far against surrogate evaluations, per search, with the grid's
    best objective as a reference line."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    for method, folds in histories.items():
        for fold, cost in folds.items():
            label = method if len(folds) == 1 else f"{method} ({fold})"
            if "history" in cost:
                best, xs, ys, seen = -np.inf, [], [], 0
                for record in cost["history"]:
                    seen += len(record["individuals"])
                    best = max(best, record["best_objective"])
                    xs.append(seen)
                    ys.append(best)
                axes.plot(xs, ys, marker="o", label=label)
            elif "grid" in cost:
                best = max(row["objective"] for row in cost["grid"])
                axes.axhline(
                    best,
                    linestyle="--",
                    color="grey",
                    label=f"{label}: best of {len(cost['grid'])} original trainings",
                )
    axes.set_xlabel("surrogate evaluations")
    axes.set_ylabel("best objective so far (eq. 11)")
    axes.set_title(f"surrogate HPO on {corpus}")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7)
    return figure


def cost_comparison(
    networks: list[tuple[str, int]], batch_size: int = 64, steps: int = 5
) -> pd.DataFrame:
    """T_ori against T_sur (seed 001 sec. 2.4) per (backbone, input size): the trunk's
    multiply-adds (the seed's measure: convolutions only), torch's FLOPs of a forward pass,
    parameters, and the measured wall time of a training step per sample on this machine."""
    rows = []
    for backbone, size in networks:
        for part in ("original", "surrogate"):
            network = build_model(surrogate_spec(backbone, 7, 1, size, part=part))
            trunk_flops = count_flops(network.trunk, (1, 1, size, size))
            rows.append(
                {
                    "backbone": backbone,
                    "input_size": size,
                    "part": part,
                    "trunk_macs": trunk_flops // 2,
                    "forward_flops": count_flops(network, (1, 1, size, size)),
                    "parameters": count_parameters(network),
                    "train_step_ms_per_sample": _step_ms(network, size, batch_size, steps)
                    / batch_size,
                }
            )
    table = pd.DataFrame(rows)
    original = table[table["part"] == "original"].set_index(["backbone", "input_size"])
    for column in ("trunk_macs", "forward_flops", "train_step_ms_per_sample"):
        ratio = (
            original[column]
            / table[table["part"] == "surrogate"].set_index(["backbone", "input_size"])[column]
        )
        table[f"{column}_ratio"] = [
            float(ratio.loc[(b, s)])
            for b, s in zip(table["backbone"], table["input_size"], strict=True)
        ]
    return table


def _step_ms(network: torch.nn.Module, size: int, batch_size: int, steps: int) -> float:
    images = torch.rand(batch_size, 1, size, size)
    labels = torch.zeros(batch_size, dtype=torch.int64)
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-3)
    network.train()
    timings = []
    for step in range(steps + 1):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(network(images), labels).backward()
        optimizer.step()
        if step:  # the first step warms up the allocator and kernels
            timings.append(time.perf_counter() - started)
    return 1000 * float(np.median(timings))

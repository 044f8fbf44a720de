"""A tiny end-to-end run of surrogate_hpo_fer on the demo FER corpora, through the project's
catalog factories, with an MLflow run open as kedro-mlflow would."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from kedro.runner import SequentialRunner
from test_darts_fer import mlflow_experiment, tiny_fer_catalog

from expression_nas.models.registry import build_model
from expression_nas.parameters import check_parameters
from expression_nas.pipelines.data_preparation.pipeline import preparation
from expression_nas.pipelines.surrogate_hpo_fer.pipeline import DEMO_CORPORA, hpo_pipeline

TINY_HPO = {
    "search": {"rounds": 1, "iterations_per_round": 2, "population": 4},
    "grid": {"dropout": [0.5], "log10_lambda": [-5.0], "iterations": 2},
    "final_training": {"iterations": 2},
    "solver": {"batch_size": 8},
    "evaluation": {
        "demo_fer2013": {"methods": ["baseline", "defaults_all", "de_all", "grid", "pso_all"]},
        "demo_ckplus": {"k": 2},
        "demo_jaffe": {"k": 2, "methods": ["selected"]},
    },
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, single_torch_thread):
    tmp_path = tmp_path_factory.mktemp("surrogate_hpo")
    catalog, hpo = tiny_fer_catalog(tmp_path, "surrogate_hpo_fer", TINY_HPO)
    hpo["checkpoint_dir"] = str(tmp_path / hpo["checkpoint_dir"])
    catalog["params:surrogate_hpo_fer"] = check_parameters({"surrogate_hpo_fer": hpo})[
        "surrogate_hpo_fer"
    ]
    mlflow_experiment(tmp_path, "hpo")
    pipeline = preparation(DEMO_CORPORA) + hpo_pipeline("surrogate_hpo_fer", DEMO_CORPORA)
    with mlflow.start_run(run_name="surrogate_hpo_fer") as run:
        SequentialRunner().run(pipeline, catalog)
    return tmp_path, run.info.run_id


def test_the_report_has_every_row_of_every_corpus(finished_run):
    tmp_path, _ = finished_run
    report = pd.read_csv(tmp_path / "data/08_reporting/surrogate_hpo_fer/hpo_report.csv")
    expected = {
        (corpus, method)
        for corpus, settings in TINY_HPO["evaluation"].items()
        for method in settings.get("methods", ["baseline", "selected"])
    }
    assert set(zip(report["corpus"], report["method"], strict=True)) == expected
    searched = report[report["method"].isin(["de_all", "pso_all", "selected"])]
    assert (searched["surrogate_evaluations"] > 0).all()
    assert (report.loc[report["method"] == "baseline", "surrogate_evaluations"] == 0).all()
    assert report.loc[report["method"] == "grid", "original_trainings"].item() == 1
    assert report["accuracy"].between(0, 1).all()


def test_predictions_cover_each_corpus_test_side_once_per_row(finished_run):
    tmp_path, _ = finished_run
    for corpus in DEMO_CORPORA:
        samples = pd.read_parquet(tmp_path / f"data/03_primary/{corpus}/samples.parquet")
        tested = samples if corpus != "demo_fer2013" else samples[samples["usage"] == "PrivateTest"]
        predictions = pd.read_parquet(
            tmp_path / f"data/07_model_output/surrogate_hpo_fer/{corpus}/predictions.parquet"
        )
        for _, part in predictions.groupby("method"):
            assert sorted(part["sample_id"]) == sorted(tested["sample_id"])
        metrics = json.loads(
            (tmp_path / f"data/08_reporting/surrogate_hpo_fer/{corpus}/metrics.json").read_text()
        )
        main = predictions[predictions["method"] == metrics["method"]]
        assert metrics["accuracy"] == pytest.approx((main["y_true"] == main["y_pred"]).mean())
        for name in ("convergence.png", "confusion_matrix.png"):
            assert (tmp_path / f"data/08_reporting/surrogate_hpo_fer/{corpus}/{name}").exists()


def test_the_selected_network_is_rebuilt_from_its_spec(finished_run):
    tmp_path, _ = finished_run
    spec = json.loads(
        (
            tmp_path / "data/06_models/surrogate_hpo_fer/demo_jaffe/architecture_spec.json"
        ).read_text()
    )
    assert spec["family"] == "surrogate" and spec["backbone"] == "lenet"
    assert set(spec["dropout"]) == {"z", "V", "x", "W"} and set(spec["sparseness"]) == {
        "lambda_z",
        "lambda_V",
        "lambda_x",
        "lambda_W",
    }
    assert build_model(spec).head.fc2.p == spec["dropout"]["W"]


def test_costs_and_mlflow_records(finished_run):
    tmp_path, parent = finished_run
    costs = pd.read_csv(tmp_path / "data/08_reporting/surrogate_hpo_fer/cost_comparison.csv")
    assert set(costs["backbone"]) == {"lenet", "resnet20", "mresnet"}
    assert (costs.loc[costs["part"] == "original", "trunk_macs_ratio"] > 1).all()
    runs = mlflow.search_runs(experiment_names=["hpo"], output_format="list")
    hpo_runs = [run for run in runs if run.data.tags.get("kind") == "hpo"]
    assert len(hpo_runs) == sum(
        len(s.get("methods", ["baseline", "selected"])) for s in TINY_HPO["evaluation"].values()
    )
    searched = next(r for r in hpo_runs if r.data.tags["method"] == "de_all")
    assert "best_objective" in searched.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(searched.info.run_id)}
    assert "rounds" in artifacts
    assert "demo_fer2013.pso_all.accuracy" in mlflow.get_run(parent).data.metrics

"""A tiny end-to-end run of the rnas_mer pipeline (demo composite, small search and training),
through the project's catalog factories, with an MLflow run open as kedro-mlflow would."""

from __future__ import annotations

import copy
import json

import mlflow
import mlflow.pytorch
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from test_data_preparation import TINY_DEMO, _config, _merge, add_preparation_parameters

from expression_nas.parameters import check_parameters
from expression_nas.pipelines.rnas_mer.pipeline import create_pipeline

TINY_RNAS = {
    "search_space": {"layers": 2, "nodes": 2, "channels": 4, "levels": 2},
    "search": {"epochs": 1, "batch_size": 4},
    "training": {"epochs": 1, "batch_size": 8, "workers": 2},  # folds in worker processes
    "profiling": {"latency_repeats": 2},
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rnas")
    catalog_config, parameters = _config()
    for entry in catalog_config.values():
        if "filepath" in entry:
            entry["filepath"] = str(
                tmp_path
                / entry["filepath"].replace("${runtime_params:rnas_mer.variant,rnas}", "rnas")
            )
    prep = copy.deepcopy(parameters["data_preparation"])
    corpus = prep["corpora"]["demo_composite"]
    corpus["demo"] = TINY_DEMO["casme2"]
    corpus["root"] = {kind: str(tmp_path / path) for kind, path in corpus["root"].items()}
    corpus["length"] = 8
    rnas = _merge(parameters["rnas_mer"], TINY_RNAS)
    rnas["checkpoint_dir"] = str(tmp_path / rnas["checkpoint_dir"])

    catalog = DataCatalog.from_config(catalog_config)
    add_preparation_parameters(catalog, prep, ["demo_composite"])
    catalog["params:rnas_mer"] = check_parameters({"rnas_mer": rnas})["rnas_mer"]

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment(
        "test", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    with mlflow.start_run(run_name="rnas_mer") as run:
        SequentialRunner().run(create_pipeline(), catalog)
    return tmp_path, run.info.run_id


def test_outputs_and_metrics(finished_run):
    tmp_path, _ = finished_run
    out = tmp_path / "data/08_reporting/demo_composite/rnas_mer/rnas"
    metrics = json.loads((out / "metrics.json").read_text())
    samples = pd.read_parquet(tmp_path / "data/03_primary/demo_composite/samples.parquet")
    predictions = pd.read_parquet(
        tmp_path / "data/07_model_output/demo_composite/rnas_mer/rnas/loso_predictions.parquet"
    )
    assert len(predictions) == len(samples)  # every sample tested once
    assert sorted(predictions["sample_id"]) == sorted(samples["sample_id"])
    assert 0.0 <= metrics["uf1"] <= 1.0 and {row["dataset"] for row in metrics["by_source"]} == {
        "casme2",
        "samm",
        "smic",
    }
    assert (out / "confusion_matrix.png").exists()
    specs = json.loads(
        (
            tmp_path / "data/06_models/demo_composite/rnas_mer/rnas/architecture_specs.json"
        ).read_text()
    )
    assert set(specs) == {"casme2", "samm", "smic"}
    plan = json.loads(
        (tmp_path / "data/06_models/demo_composite/rnas_mer/rnas/search_plan.json").read_text()
    )
    for group in plan:  # no evaluated subject was seen by the search that chose its architecture
        assert not set(group["search_subjects"]) & set(group["evaluated_subjects"])
    matrix = pd.read_csv(out / "cross_database.csv")
    assert len(matrix) == 6 and (matrix["train"] != matrix["test"]).all()
    assert np.isfinite(matrix["uf1"]).all()


def test_mlflow_holds_searches_folds_and_model(finished_run):
    _, parent = finished_run
    runs = mlflow.search_runs(experiment_names=["test"], output_format="list")
    kinds = [run.data.tags.get("kind") for run in runs]
    assert kinds.count("search") == 3 and kinds.count("fold") == 18
    assert kinds.count("model") == 1 and kinds.count("evaluation") == 1
    parent_run = mlflow.get_run(parent)
    assert "uf1" in parent_run.data.metrics
    model_run = next(run for run in runs if run.data.tags.get("kind") == "model")
    experiment = mlflow.get_experiment_by_name("test").experiment_id
    logged = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list")
    assert [m.source_run_id for m in logged] == [model_run.info.run_id]
    network = mlflow.pytorch.load_model(logged[0].model_uri)
    assert sum(p.numel() for p in network.parameters()) > 0
    client = mlflow.tracking.MlflowClient()
    search = next(run for run in runs if run.data.tags.get("kind") == "search")
    assert len(client.get_metric_history(search.info.run_id, "val_loss")) == 1
    # the folds trained in worker processes; their epochs are logged to their runs all the same
    epochs = TINY_RNAS["training"]["epochs"]
    for fold in (run for run in runs if run.data.tags.get("kind") == "fold"):
        assert [m.step for m in client.get_metric_history(fold.info.run_id, "train_loss")] == [
            *range(1, epochs + 1)
        ]

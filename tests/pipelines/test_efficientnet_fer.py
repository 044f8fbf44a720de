"""A tiny end-to-end run of efficientnet_fer on the demo FER corpora, through the project's
catalog factories, with an MLflow run open as kedro-mlflow would; then a second run of the
search with more trials, which continues the same study."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from kedro.runner import SequentialRunner
from test_darts_fer import check_corpus_evaluations, mlflow_experiment, tiny_fer_catalog

from expression_nas.experiments.efficientnet_fer import STUDY_PLOTS
from expression_nas.models.registry import build_model
from expression_nas.parameters import check_parameters
from expression_nas.pipelines.data_preparation.pipeline import preparation
from expression_nas.pipelines.efficientnet_fer.pipeline import DEMO_CORPORA, efficientnet_pipeline

pytestmark = pytest.mark.usefixtures("single_torch_thread")
TRAINING = {"max_epochs": 1, "patience": 1, "batch_size": 8}
TINY_EFFICIENTNET = {
    "study": {"n_trials": 2, "n_workers": 1},
    "space": {
        "width_coefficient": {"low": 0.2, "high": 0.25, "step": 0.05},
        "depth_coefficient": {"low": 0.2, "high": 0.25, "step": 0.05},
        "top_filters": {"low": 16, "high": 24, "step": 8},
    },
    "search_training": {**TRAINING, "max_train_images": 16},
    "final_training": TRAINING,
    "comparisons": {"max_train_images": 16},
    "evaluation": {"demo_ckplus": {"k": 2}, "demo_jaffe": {"k": 2}},
}
REPORTS = "data/08_reporting/efficientnet_fer"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, single_torch_thread):
    tmp_path = tmp_path_factory.mktemp("efficientnet")
    catalog, settings = tiny_fer_catalog(tmp_path, "efficientnet_fer", TINY_EFFICIENTNET)
    settings["study"]["storage"] = str(tmp_path / settings["study"]["storage"])
    catalog["params:efficientnet_fer"] = check_parameters({"efficientnet_fer": settings})[
        "efficientnet_fer"
    ]
    mlflow_experiment(tmp_path, "efficientnet")
    pipeline = efficientnet_pipeline("efficientnet_fer", DEMO_CORPORA)
    with mlflow.start_run(run_name="efficientnet_fer") as run:
        SequentialRunner().run(preparation(DEMO_CORPORA) + pipeline, catalog)
    # a second run with more trials: only the search (and what follows it) runs again
    settings["study"]["n_trials"] = 3
    catalog["params:efficientnet_fer"] = check_parameters({"efficientnet_fer": settings})[
        "efficientnet_fer"
    ]
    first_trials = pd.read_csv(tmp_path / REPORTS / "trials.csv")
    with mlflow.start_run(run_name="efficientnet_fer again") as again:
        SequentialRunner().run(
            pipeline.only_nodes("efficientnet_fer.search", "efficientnet_fer.plot_study"), catalog
        )
    return tmp_path, run.info.run_id, again.info.run_id, first_trials


def test_the_study_and_its_plots(finished_run):
    tmp_path, _, _, first_trials = finished_run
    assert list(first_trials["number"]) == [0, 1]
    trials = pd.read_csv(tmp_path / REPORTS / "trials.csv")
    assert list(trials["number"]) == [0, 1, 2] and set(trials["state"]) == {"COMPLETE"}
    pd.testing.assert_frame_equal(trials.iloc[:2], first_trials, check_dtype=False)
    report = json.loads((tmp_path / REPORTS / "search_report.json").read_text())
    assert report["this_run"]["finished_before"] == 2 and report["trials"] == 3
    for plot in STUDY_PLOTS:
        assert (tmp_path / REPORTS / f"optuna_{plot}.png").stat().st_size > 0


def test_every_corpus_is_evaluated_on_its_test_side(finished_run):
    tmp_path = finished_run[0]
    check_corpus_evaluations(tmp_path, "efficientnet_fer", DEMO_CORPORA)
    spec = json.loads(
        (tmp_path / "data/06_models/efficientnet_fer/architecture_spec.json").read_text()
    )
    assert spec["family"] == "efficientnet" and spec["stages"] == 4
    fer = json.loads((tmp_path / REPORTS / "demo_fer2013" / "metrics.json").read_text())
    rebuilt = build_model(spec)
    assert sum(p.numel() for p in rebuilt.parameters()) == fer["costs"]["parameters"]


def test_the_comparisons_and_the_summary(finished_run):
    tmp_path = finished_run[0]
    scaling = pd.read_csv(tmp_path / REPORTS / "scaling_comparison.csv")
    weighting = pd.read_csv(tmp_path / REPORTS / "loss_weighting_comparison.csv")
    assert list(scaling["variant"]) == ["scaled_down", "full"]
    assert list(weighting["weighted_loss"]) == [True, False]
    for name in ("scaling_comparison.png", "loss_weighting_comparison.png"):
        assert (tmp_path / REPORTS / name).exists()
    summary = json.loads((tmp_path / REPORTS / "summary.json").read_text())
    assert set(summary["corpora"]) == set(DEMO_CORPORA)


def test_mlflow_records(finished_run):
    _, parent, again, _ = finished_run
    runs = mlflow.search_runs(experiment_names=["efficientnet"], output_format="list")
    trials = [run for run in runs if run.data.tags.get("kind") == "trial"]
    # each trial once, under the run that saw it finish
    by_parent = {
        run_id: sorted(
            int(r.data.tags["optuna_trial"])
            for r in trials
            if r.data.tags["mlflow.parentRunId"] == run_id
        )
        for run_id in (parent, again)
    }
    assert by_parent == {parent: [0, 1], again: [2]}
    assert {"val_loss", "train_loss", "value", "stop_epoch"} <= set(trials[0].data.metrics)
    assert set(trials[0].data.params) == {
        "lr",
        "width_coefficient",
        "depth_coefficient",
        "dropout",
        "top_filters",
    }
    pipeline_run = mlflow.get_run(parent)
    assert {"best.lr", "best.top_filters"} <= set(pipeline_run.data.params)
    assert "demo_fer2013.accuracy" in pipeline_run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent)}
    assert {"optuna", "comparisons"} <= artifacts
    logged = mlflow.search_logged_models(
        experiment_ids=[pipeline_run.info.experiment_id], output_format="list"
    )
    assert [(m.name, m.source_run_id) for m in logged] == [("final_model", parent)]

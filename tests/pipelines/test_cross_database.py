"""A tiny end-to-end run of cross_database on the demo FER corpora (their preparation
included), through the project's catalog factories, with an MLflow run open as kedro-mlflow
would."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.runner import SequentialRunner
from test_darts_fer import mlflow_experiment, tiny_fer_catalog

from expression_nas.parameters import CrossDatabaseParams
from expression_nas.pipeline_registry import register_pipelines
from expression_nas.pipelines.cross_database.pipeline import DEMO_CORPORA

TINY_XDB = {
    "device": "cpu",
    "architecture": {"spec": {"channels": [4, 8]}},
    "training": {"epochs": 2, "batch_size": 16},
    "target_fold": {"folds": 2},
}
REPORTS = "data/08_reporting/cross_database"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, single_torch_thread):
    tmp_path = tmp_path_factory.mktemp("xdb")
    catalog, settings = tiny_fer_catalog(tmp_path, "cross_database", TINY_XDB)
    catalog["params:cross_database"] = CrossDatabaseParams.model_validate(settings)
    mlflow_experiment(tmp_path, "xdb")
    with mlflow.start_run(run_name="cross_database") as run:
        SequentialRunner().run(register_pipelines()["cross_database"], catalog)
    return tmp_path, run.info.run_id


def test_every_ordered_pair_is_scored_under_both_protocols(finished_run):
    tmp_path, _ = finished_run
    scores = pd.read_csv(tmp_path / REPORTS / "pair_scores.csv", keep_default_na=False)
    assert len(scores) == 6 * 2 and set(scores.protocol) == {"direct", "target_fold"}
    assert set(zip(scores.train_corpus, scores.test_corpus, strict=True)) == {
        (a, b) for a in DEMO_CORPORA for b in DEMO_CORPORA if a != b
    }
    assert (scores.skipped_reason == "").all()
    to_ckplus = scores[
        (scores.train_corpus == "demo_fer2013") & (scores.test_corpus == "demo_ckplus")
    ]
    assert set(to_ckplus.dropped_test_classes) == {"contempt"}
    assert set(to_ckplus.dropped_train_classes) == {""}
    assert set(to_ckplus.common_classes) == {
        "anger, disgust, fear, happy, neutral, sadness, surprise"
    }
    assert ((scores.accuracy >= 0) & (scores.accuracy <= 1)).all()


def test_the_matrices_have_an_empty_diagonal_and_the_predictions_back_them(finished_run):
    tmp_path, _ = finished_run
    scores = pd.read_csv(tmp_path / REPORTS / "pair_scores.csv")
    predictions = pd.read_parquet(
        tmp_path / "data/07_model_output/cross_database/epoch_predictions.parquet"
    )
    for metric in ("accuracy", "uf1"):
        matrix = pd.read_csv(tmp_path / REPORTS / f"{metric}_matrix.csv")
        assert list(matrix.columns) == ["protocol", "train_corpus", *DEMO_CORPORA]
        for protocol, part in matrix.groupby("protocol"):
            values = part.set_index("train_corpus").loc[list(DEMO_CORPORA), list(DEMO_CORPORA)]
            assert np.isnan(np.diag(values.to_numpy(dtype=float))).all()
            direct = scores[scores.protocol == protocol].set_index(["train_corpus", "test_corpus"])
            assert values.loc["demo_jaffe", "demo_ckplus"] == pytest.approx(
                direct.loc[("demo_jaffe", "demo_ckplus"), metric]
            )
    last = predictions[predictions.epoch == 2]
    for row in scores[scores.protocol == "direct"].itertuples():
        pair = last[(last.train_corpus == row.train_corpus) & (last.test_corpus == row.test_corpus)]
        assert row.accuracy == pytest.approx((pair.y_true == pair.y_pred).mean())
    fer_tested = predictions[(predictions.test_corpus == "demo_fer2013") & (predictions.epoch == 2)]
    samples = pd.read_parquet(tmp_path / "data/03_primary/demo_fer2013/samples.parquet")
    private = set(samples.sample_id[samples.usage == "PrivateTest"])
    assert set(fer_tested.sample_id[fer_tested.target_fold >= 0]) == private
    assert (tmp_path / REPORTS / "matrices.png").exists()
    spec = json.loads(
        (tmp_path / "data/06_models/cross_database/architecture_spec.json").read_text()
    )
    assert spec == {"schema_version": 1, "family": "plain_cnn", "channels": [4, 8], "dropout": 0.2}


def test_mlflow_holds_the_pair_metrics_the_trainings_and_the_report(finished_run):
    _, parent = finished_run
    metrics = mlflow.get_run(parent).data.metrics
    for protocol in ("direct", "target_fold"):
        for metric in ("accuracy", "uar", "uf1"):
            assert f"xdb.{protocol}.demo_fer2013__demo_jaffe.{metric}" in metrics
    runs = mlflow.search_runs(experiment_names=["xdb"], output_format="list")
    trainings = [run for run in runs if run.data.tags.get("kind") == "cross_database_training"]
    assert sorted(run.data.tags["train_corpus"] for run in trainings) == sorted(DEMO_CORPORA)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent, "cross_database")}
    assert {"cross_database/pair_scores.json", "cross_database/matrices.png"} <= artifacts


def test_the_demo_and_the_real_pipelines_read_their_own_corpora():
    pipelines = register_pipelines()
    for name, corpora in (
        ("cross_database", DEMO_CORPORA),
        ("cross_database_real", ("fer2013", "ckplus", "jaffe")),
    ):
        pipeline = pipelines[name]
        assert f"{name}.pair_scores" in pipeline.all_outputs()
        assert {f"{corpus}.samples" for corpus in corpora} <= pipeline.all_outputs()
        datasets = pipeline.all_inputs() | pipeline.all_outputs()
        namespaces = {d.split(".")[0] for d in datasets if not d.startswith("params:")}
        assert namespaces == {name, *corpora}

"""Tiny end-to-end runs of darts_fer and darts_stn_fer on the demo FER corpora, and their
comparison, through the project's catalog factories, with an MLflow run open as kedro-mlflow
would."""

from __future__ import annotations

import copy
import json

import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from test_data_preparation import _config, _merge, add_preparation_parameters

from expression_nas.parameters import check_parameters
from expression_nas.pipelines.darts_fer.pipeline import DEMO_CORPORA, fer_pipelines

TINY_FER_DEMO = {
    "demo_fer2013": {"training": (4, 2, 4, 4, 4, 4, 4), "test": (2, 1, 2, 2, 2, 2, 2)},
    "demo_ckplus": {"n_subjects": 4},
    "demo_jaffe": {"n_subjects": 4, "repetitions": 1},
}
TINY_DARTS = {
    "search_space": {"channels": 2, "layers": 3, "nodes": 2},
    "search": {"epochs": 1, "batch_size": 8},
    "final_network": {"channels": 2, "layers": 3},
    "training": {"epochs": 1, "batch_size": 16},
    "evaluation": {
        "demo_fer2013": {"epochs": 1},
        "demo_ckplus": {"protocol": "kfold", "k": 2, "epochs": 1},
        "demo_jaffe": {"epochs": 1},
    },
}
EVALUATED = DEMO_CORPORA[1]
METHODS = ("darts_fer", "darts_stn_fer")


def tiny_fer_catalog(tmp_path, key: str, overrides: dict) -> tuple[DataCatalog, dict]:
    """The project's catalog with its files under ``tmp_path``, the typed parameters of the
    tiny demo FER corpora's preparation in it, and ``key``'s conf/base parameters merged with
    ``overrides`` (raw: the caller adjusts its paths and adds them)."""
    catalog_config, parameters = _config()
    for entry in catalog_config.values():
        if "filepath" in entry:
            entry["filepath"] = str(tmp_path / entry["filepath"])
    prep = copy.deepcopy(parameters["data_preparation"])
    for corpus, demo in TINY_FER_DEMO.items():
        settings = prep["corpora"][corpus]
        settings["demo"] = demo
        settings["root"] = str(tmp_path / settings["root"])
    catalog = DataCatalog.from_config(catalog_config)
    add_preparation_parameters(catalog, prep, list(TINY_FER_DEMO))
    return catalog, _merge(parameters[key], overrides)


def mlflow_experiment(tmp_path, name: str) -> str:
    """A fresh MLflow experiment in a SQLite store under ``tmp_path``, made the active one
    (as kedro-mlflow does)."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment(name, artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    return experiment


def check_corpus_evaluations(tmp_path, pipeline: str, corpora) -> dict[str, dict]:
    """Each corpus's pooled predictions cover exactly its test side (FER2013: PrivateTest),
    its metrics score them and report the network's costs; returns the metrics by corpus."""
    reports, found = tmp_path / "data/08_reporting" / pipeline, {}
    for corpus in corpora:
        samples = pd.read_parquet(tmp_path / f"data/03_primary/{corpus}/samples.parquet")
        tested = samples if corpus != "demo_fer2013" else samples[samples["usage"] == "PrivateTest"]
        predictions = pd.read_parquet(
            tmp_path / f"data/07_model_output/{pipeline}/{corpus}/predictions.parquet"
        )
        assert sorted(predictions["sample_id"]) == sorted(tested["sample_id"])
        metrics = json.loads((reports / corpus / "metrics.json").read_text())
        assert metrics["accuracy"] == pytest.approx(
            (predictions["y_true"] == predictions["y_pred"]).mean()
        )
        assert {"parameters", "flops", "latency_ms_median", "peak_memory_mb"} <= set(
            metrics["costs"]
        )
        assert metrics["search_seconds"] > 0
        assert (reports / corpus / "confusion_matrix.png").exists()
        found[corpus] = metrics
    return found


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, single_torch_thread):
    tmp_path = tmp_path_factory.mktemp("darts")
    catalog, darts = tiny_fer_catalog(tmp_path, "darts_fer", TINY_DARTS)
    darts["checkpoint_dir"] = str(tmp_path / darts["checkpoint_dir"])
    catalog["params:darts_fer"] = check_parameters({"darts_fer": darts})["darts_fer"]
    mlflow_experiment(tmp_path, "darts")
    with mlflow.start_run(run_name="darts_comparison") as run:
        SequentialRunner().run(fer_pipelines("", *DEMO_CORPORA)["darts_comparison"], catalog)
    return tmp_path, run.info.run_id


def test_search_sees_only_the_training_split(finished_run):
    tmp_path, _ = finished_run
    samples = pd.read_parquet(tmp_path / "data/03_primary/demo_fer2013/samples.parquet")
    for method in METHODS:
        split = json.loads(
            (tmp_path / f"data/05_model_input/{method}/search_split.json").read_text()
        )
        rows = split["train"] + split["val"]
        assert not set(split["train"]) & set(split["val"])
        assert set(samples["usage"].iloc[rows]) == {"Training"}
        assert len(rows) == (samples["usage"] == "Training").sum()


def test_each_method_evaluates_the_searched_cells_on_every_corpus(finished_run):
    tmp_path, _ = finished_run
    for method in METHODS:
        spec = json.loads(
            (tmp_path / f"data/06_models/{method}/architecture_spec.json").read_text()
        )
        assert spec["family"] == "darts" and len(spec["genotype"]["normal"]) == 2
        assert spec["provenance"]["strategy"] == {"darts_fer": "darts"}.get(method, "darts_stn")
        assert (tmp_path / f"data/08_reporting/{method}/architecture.png").exists()
        for corpus in EVALUATED:
            samples = pd.read_parquet(tmp_path / f"data/03_primary/{corpus}/samples.parquet")
            predictions = pd.read_parquet(
                tmp_path / f"data/07_model_output/{method}/{corpus}/predictions.parquet"
            )
            tested = (
                samples if corpus != "demo_fer2013" else samples[samples["usage"] == "PrivateTest"]
            )
            assert sorted(predictions["sample_id"]) == sorted(tested["sample_id"])
            metrics = json.loads(
                (tmp_path / f"data/08_reporting/{method}/{corpus}/metrics.json").read_text()
            )
            assert metrics["accuracy"] == pytest.approx(
                (predictions["y_true"] == predictions["y_pred"]).mean()
            )
            assert set(metrics["per_class"]) == set(metrics["classes"])
            assert metrics["costs"]["parameters"] > 0 and metrics["costs"]["flops"] > 0
            assert metrics["search_seconds"] > 0
            assert (tmp_path / f"data/08_reporting/{method}/{corpus}/confusion_matrix.png").exists()


def test_stn_search_tuned_its_perturbation_scale(finished_run):
    tmp_path, _ = finished_run
    report = json.loads(
        (tmp_path / "data/08_reporting/darts_stn_fer/search_report.json").read_text()
    )
    last = report["arch_history"][-1]
    assert "sigma_mean" in last and set(last["dropout"]) == {"cell", "classifier"}
    plain = json.loads((tmp_path / "data/08_reporting/darts_fer/search_report.json").read_text())
    assert "sigma_mean" not in plain["arch_history"][-1]


def test_comparison_table_and_plot(finished_run):
    tmp_path, _ = finished_run
    table = pd.read_csv(tmp_path / "data/08_reporting/darts_comparison/comparison.csv")
    assert len(table) == len(METHODS) * len(EVALUATED)
    assert set(table["method"]) == {"darts", "darts_stn"} and set(table["corpus"]) == set(EVALUATED)
    for method in METHODS:
        summary = json.loads((tmp_path / f"data/08_reporting/{method}/summary.json").read_text())
        strategy = summary["strategy"]
        for corpus, result in summary["corpora"].items():
            row = table[(table["method"] == strategy) & (table["corpus"] == corpus)]
            assert row["accuracy"].item() == pytest.approx(result["accuracy"])
    assert (tmp_path / "data/08_reporting/darts_comparison/comparison.png").exists()


def test_mlflow_holds_searches_models_and_the_comparison(finished_run):
    _, parent = finished_run
    runs = mlflow.search_runs(experiment_names=["darts"], output_format="list")
    kinds = [run.data.tags.get("kind") for run in runs]
    folds_per_method = 1 + 2 + 4  # FER2013 standard split, CK+ 2-fold, JAFFE 4-fold (conf/base)
    assert kinds.count("search") == 2
    assert kinds.count("evaluation") == 2 * len(EVALUATED)
    assert kinds.count("fold") == 2 * folds_per_method
    experiment = mlflow.get_experiment_by_name("darts").experiment_id
    logged = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list")
    assert len(logged) == 2 * folds_per_method
    parent_run = mlflow.get_run(parent)
    assert "darts_stn_demo_jaffe_accuracy" in parent_run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent)}
    assert {"darts_comparison.json", "darts_comparison.png"} <= artifacts
    stn_search = next(
        run
        for run in runs
        if run.data.tags.get("strategy") == "darts_stn" and run.data.tags.get("kind") == "search"
    )
    assert {"sigma_mean", "dropout_cell", "dropout_classifier"} <= set(stn_search.data.metrics)

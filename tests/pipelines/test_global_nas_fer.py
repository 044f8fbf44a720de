"""A tiny end-to-end run of global_nas_fer on the demo FER corpora, through the project's
catalog factories, with an MLflow run open as kedro-mlflow would; then the search once more,
which replays every candidate from the cache."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from kedro.runner import SequentialRunner
from test_darts_fer import check_corpus_evaluations, mlflow_experiment, tiny_fer_catalog

from expression_nas.models.registry import build_model
from expression_nas.parameters import check_parameters
from expression_nas.pipelines.data_preparation.pipeline import preparation
from expression_nas.pipelines.global_nas_fer.pipeline import DEMO_CORPORA, global_nas_pipeline

# about 50 s on 2 busy cores, most of it preparing the tiny demo corpora
pytestmark = [pytest.mark.usefixtures("single_torch_thread"), pytest.mark.slow]
TRAINING = {"batch_size": 16}
TINY_GLOBAL = {
    "presets": {
        "demo": {
            "min_depth": 2,
            "max_depth": 3,
            "min_width": 4,
            "max_width": 6,
            "width_step": 2,
            "macro_epochs": 1,
            "micro_epochs": 1,
            "param_tolerance": 50,
        }
    },
    "input_size": 12,
    "search_training": TRAINING,
    "final_training": {**TRAINING, "epochs": 1},
    "random_baseline": {"architectures": 2},
    "evaluation": {"demo_ckplus": {"k": 2, "epochs": 1}, "demo_jaffe": {"k": 2, "epochs": 1}},
}
REPORTS = "data/08_reporting/global_nas_fer"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, single_torch_thread):
    tmp_path = tmp_path_factory.mktemp("global_nas")
    catalog, settings = tiny_fer_catalog(tmp_path, "global_nas_fer", TINY_GLOBAL)
    cache = tmp_path / settings["search_training"]["cache_dir"]
    settings["search_training"]["cache_dir"] = str(cache)
    catalog["params:global_nas_fer"] = check_parameters({"global_nas_fer": settings})[
        "global_nas_fer"
    ]
    mlflow_experiment(tmp_path, "global_nas")
    pipeline = global_nas_pipeline("global_nas_fer", DEMO_CORPORA)
    with mlflow.start_run(run_name="global_nas_fer") as run:
        SequentialRunner().run(preparation(DEMO_CORPORA) + pipeline, catalog)
    first_report = json.loads((tmp_path / REPORTS / "search_report.json").read_text())
    with mlflow.start_run(run_name="global_nas_fer again") as again:
        SequentialRunner().run(pipeline.only_nodes("global_nas_fer.search"), catalog)
    return tmp_path, run.info.run_id, again.info.run_id, first_report


def test_the_search_evaluates_d_plus_w_plus_2df_candidates_and_resumes(finished_run):
    tmp_path, _, _, first = finished_run
    candidates = pd.read_csv(tmp_path / REPORTS / "candidates.csv")
    counts = first["counts"]
    assert counts["evaluated"] == counts["grow"] + counts["prune"] + 2 * counts["final_depth"]
    assert len(candidates) == counts["trainings"] == counts["evaluated"] + 1
    assert first["cache"] == {
        "folder": first["cache"]["folder"],
        "trained": counts["trainings"],
        "reused": 0,
    }
    assert set(candidates["phase"]) <= {
        "grow", "prune", "micro_baseline", "micro_operation", "micro_kernel"
    }  # fmt: skip
    assert list(candidates["epochs"][candidates["phase"] == "grow"]) == list(
        range(1, counts["grow"] + 1)
    )
    assert first["validation_split"] == "PublicTest" and first["search_hours"] > 0
    assert (tmp_path / REPORTS / "search_trajectory.png").stat().st_size > 0
    # the second run trained nothing: every candidate came from the cache
    again = json.loads((tmp_path / REPORTS / "search_report.json").read_text())
    assert again["cache"]["trained"] == 0 and again["cache"]["reused"] == counts["trainings"]
    assert again["found"] == first["found"] and again["search_seconds"] == first["search_seconds"]
    assert pd.read_csv(tmp_path / REPORTS / "candidates.csv")["cached"].all()


def test_every_corpus_is_evaluated_once_on_its_test_side(finished_run):
    tmp_path = finished_run[0]
    spec = json.loads(
        (tmp_path / "data/06_models/global_nas_fer/architecture_spec.json").read_text()
    )
    assert spec["family"] == "global" and spec["provenance"]["validation"] == "PublicTest"
    metrics = check_corpus_evaluations(tmp_path, "global_nas_fer", DEMO_CORPORA)
    assert {m["search_device"] for m in metrics.values()} == {"cpu"}
    fer = json.loads((tmp_path / REPORTS / "demo_fer2013" / "metrics.json").read_text())
    rebuilt = build_model(spec)
    assert sum(p.numel() for p in rebuilt.parameters()) == fer["costs"]["parameters"]


def test_the_random_baseline_and_ri(finished_run):
    tmp_path = finished_run[0]
    table = pd.read_csv(tmp_path / REPORTS / "random_architectures.csv")
    assert len(table) == 2 and set(table["depth"]) <= {2, 3} and set(table["width"]) <= {4, 6}
    ri = json.loads((tmp_path / REPORTS / "relative_improvement.json").read_text())
    fer = json.loads((tmp_path / REPORTS / "demo_fer2013" / "metrics.json").read_text())
    assert ri["found_accuracy"] == pytest.approx(100 * fer["accuracy"])
    assert ri["random_mean"] == pytest.approx(table["accuracy"].mean())
    assert ri["random_std"] == pytest.approx(table["accuracy"].std())
    assert ri["ri"] == pytest.approx(100 * (ri["found_accuracy"] / ri["random_mean"] - 1))
    assert (tmp_path / REPORTS / "random_baseline.png").exists()
    summary = json.loads((tmp_path / REPORTS / "summary.json").read_text())
    assert set(summary["corpora"]) == set(DEMO_CORPORA) and summary["random_baseline"] == ri


def test_mlflow_records(finished_run):
    _, parent, again, first = finished_run
    runs = mlflow.search_runs(experiment_names=["global_nas"], output_format="list")

    def children(run_id, kind):
        return [
            run
            for run in runs
            if run.data.tags.get("kind") == kind and run.data.tags["mlflow.parentRunId"] == run_id
        ]

    # one search per pipeline run, with one nested run per candidate (the second all cached)
    (search,), (resumed,) = children(parent, "search"), children(again, "search")
    candidates = children(search.info.run_id, "candidate")
    assert len(candidates) == len(children(resumed.info.run_id, "candidate"))
    assert len(candidates) == first["counts"]["trainings"]
    assert {"score", "train_accuracy", "parameters", "accepted"} <= set(candidates[0].data.metrics)
    assert {"phase", "depth", "width", "layers", "epochs"} <= set(candidates[0].data.params)
    assert {r.data.params["cached"] for r in children(resumed.info.run_id, "candidate")} == {"True"}
    kinds = [run.data.tags.get("kind") for run in runs]
    assert kinds.count("evaluation") == len(DEMO_CORPORA)
    assert kinds.count("random_baseline") == 1 and kinds.count("random_architecture") == 2
    pipeline_run = mlflow.get_run(parent)
    assert {"demo_fer2013.accuracy", "random_baseline.ri"} <= set(pipeline_run.data.metrics)
    logged = mlflow.search_logged_models(
        experiment_ids=[pipeline_run.info.experiment_id], output_format="list"
    )
    assert [(m.name, m.source_run_id) for m in logged] == [("final_model", parent)]

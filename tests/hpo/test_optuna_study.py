"""One Optuna study shared by worker processes: journal file and PostgreSQL storages, resume,
re-queue of interrupted and failed trials, reports and MLflow records."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass

import mlflow
import optuna
import pytest
from matplotlib.figure import Figure
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from expression_nas.hpo.optuna_study import (
    HISTORY_ATTR,
    WORKER_ATTR,
    StudyConfig,
    log_trials,
    open_study,
    optimize,
    run_study,
    shares,
    study_figures,
    suggest,
    trial_rows,
)

SPACE = {"x": FloatDistribution(-2.0, 2.0), "n": IntDistribution(1, 4)}


@dataclass(frozen=True)
class Quadratic:
    """A cheap objective (module level, so worker processes can unpickle it)."""

    seconds: float = 0.0
    fail_first: bool = False

    def __call__(self, trial: optuna.Trial) -> float:
        values = suggest(trial, SPACE)
        time.sleep(self.seconds)
        if self.fail_first and trial.number == 0:
            raise RuntimeError("a trial that breaks")
        trial.set_user_attr(HISTORY_ATTR, [{"epoch": 1, "val_loss": values["x"] ** 2}])
        trial.set_user_attr("val_accuracy", 0.5)
        return (values["x"] - 1) ** 2 + values["n"]


def _config(tmp_path, **overrides) -> StudyConfig:
    settings = {"name": "toy", "storage": str(tmp_path / "study.journal"), "n_startup_trials": 2}
    return StudyConfig(**(settings | overrides))


def _numbers(study: optuna.Study, state: TrialState = TrialState.COMPLETE) -> list[int]:
    return sorted(t.number for t in study.trials if t.state == state)


def test_trials_are_dealt_evenly():
    assert shares(5, 2) == [3, 2]
    assert shares(1, 3) == [1]
    assert shares(0, 2) == shares(-1, 2) == []


@pytest.mark.slow  # three runs of spawned workers: about 30 s on 2 cores
def test_two_workers_share_one_journal_file_and_a_rerun_continues(tmp_path):
    config = _config(tmp_path)
    study, run = run_study(config, Quadratic(seconds=0.2), target=6, n_workers=2)
    assert run["workers"] == 2 and run["finished_after"] == 6
    assert _numbers(study) == list(range(6))  # the counts add up, no number twice
    assert len({t.user_attrs[WORKER_ATTR]["pid"] for t in study.trials}) == 2
    assert os.getpid() not in {t.user_attrs[WORKER_ATTR]["pid"] for t in study.trials}
    # a second run with a larger target resumes the same study and runs only the difference
    study, run = run_study(config, Quadratic(), target=8, n_workers=2)
    assert (run["finished_before"], run["finished_after"]) == (6, 8)
    assert _numbers(study) == list(range(8))
    # and one with the target already met runs nothing
    _, run = run_study(config, Quadratic(), target=8, n_workers=2)
    assert run["workers"] == 0 and len(open_study(config).trials) == 8


def test_an_interrupted_trial_is_marked_failed_and_requeued(tmp_path):
    config = _config(tmp_path)
    worker = multiprocessing.get_context("spawn").Process(
        target=optimize, args=(config, Quadratic(seconds=120), 1, 1, 1)
    )
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            running = [
                t
                for t in open_study(config).trials
                if t.state == TrialState.RUNNING and WORKER_ATTR in t.user_attrs
            ]
            if running:
                break
            time.sleep(0.2)
        assert running, "the worker never started its trial"
    finally:
        worker.kill()  # as a killed machine or `kill -9` would
        worker.join()
    interrupted = running[0]

    study, run = run_study(config, Quadratic(), target=1, n_workers=1)
    assert run["requeued"] == [0]
    (failed,) = [t for t in study.trials if t.state == TrialState.FAIL]
    (retried,) = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert failed.number == interrupted.number == 0
    assert retried.number == 1 and retried.params == interrupted.params
    assert {row["number"]: row["retry_of"] for row in trial_rows(study)} == {0: None, 1: 0}


def test_a_failed_trial_is_requeued_at_most_max_retries_times(tmp_path):
    config = _config(tmp_path, max_retries=1)
    study, _ = run_study(config, Quadratic(fail_first=True), target=2, n_workers=1)
    assert _numbers(study, TrialState.FAIL) == [0] and _numbers(study) == [1]
    # the next run re-queues trial 0 once, with its parameters, before drawing new points
    study, run = run_study(config, Quadratic(), target=3, n_workers=1)
    assert run["requeued"] == [0]
    assert study.trials[2].params == study.trials[0].params
    study, run = run_study(config, Quadratic(), target=4, n_workers=1)
    assert run["requeued"] == []  # trial 0 had its one retry


def test_reports_and_mlflow_records_each_trial_once(tmp_path):
    config = _config(tmp_path)
    study, _ = run_study(config, Quadratic(), target=4, n_workers=1)
    rows = trial_rows(study)
    assert [row["number"] for row in rows] == [0, 1, 2, 3]
    assert {"x", "n", "value", "seconds", "val_accuracy"} <= set(rows[0])
    figures = study_figures(study)
    assert set(figures) == {
        "optimization_history",
        "parallel_coordinate",
        "param_importances",
        "slice",
    }
    assert all(isinstance(figure, Figure) for figure in figures.values())

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("toy", artifact_location=(tmp_path / "a").as_uri())
    mlflow.set_experiment(experiment_id=experiment)  # as kedro-mlflow does
    with mlflow.start_run() as parent:
        assert log_trials(study, config) == 4
        assert log_trials(study, config) == 0  # already there: not logged twice
    runs = mlflow.search_runs([experiment], output_format="list")
    trials = [run for run in runs if run.data.tags.get("kind") == "trial"]
    assert sorted(int(run.data.tags["optuna_trial"]) for run in trials) == [0, 1, 2, 3]
    assert {run.data.tags["mlflow.parentRunId"] for run in trials} == {parent.info.run_id}
    assert {"value", "val_accuracy", "val_loss"} <= set(trials[0].data.metrics)
    assert set(trials[0].data.params) == {"x", "n"}


def test_too_few_trials_give_a_figure_that_says_why(tmp_path):
    figures = study_figures(open_study(_config(tmp_path)))
    assert all(isinstance(figure, Figure) for figure in figures.values())


def test_a_postgresql_study_takes_two_workers_and_resumes(postgres_url):
    config = StudyConfig(name=f"toy_{os.getpid()}_{time.time_ns()}", storage=postgres_url)
    study, run = run_study(config, Quadratic(seconds=0.1), target=4, n_workers=2)
    assert run["workers"] == 2 and _numbers(study) == [0, 1, 2, 3]
    assert len({t.user_attrs[WORKER_ATTR]["pid"] for t in study.trials}) == 2
    study, _ = run_study(config, Quadratic(), target=5, n_workers=1)
    assert _numbers(study) == [0, 1, 2, 3, 4]
    optuna.delete_study(study_name=config.name, storage=postgres_url)

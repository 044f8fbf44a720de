"""How runs end, in-process and fast: a real SIGTERM to this process inside nested runs, an
exception, the orphan sweep, the resume link, run names and labels, and progress reports.
The same through ``kedro run`` in a subprocess: ``test_interrupted_runs.py``."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from expression_nas import interruptions, progress, tracking
from expression_nas.hooks import RunLifecycleHook


@pytest.fixture
def handlers():
    """Signal handlers installed as a pipeline run does, and everything put back after."""
    before = {signum: signal.getsignal(signum) for signum in interruptions.SIGNALS}
    assert interruptions.install()
    yield
    interruptions.uninstall()
    interruptions._state.interruption = None
    interruptions.set_node(None)
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_a_signal_ends_the_nested_runs_and_the_rest_killed_with_where_it_came(
    mlflow_experiment, handlers
):
    client = MlflowClient()
    interruptions.set_node("demo.search_architecture")
    parent = mlflow.start_run(run_name="pipeline")  # as kedro-mlflow: no `with` around it
    with (
        pytest.raises(interruptions.RunInterrupted) as stopped,
        tracking.nested_run("search", variant="rnas") as search,
    ):
        for epoch in progress.track(range(3), "search", "epoch"):
            for batch in progress.track(range(4), f"search epoch {epoch + 1}/3", "batch"):
                if (epoch, batch) == (1, 2):
                    os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.code == 128 + signal.SIGTERM == 143
    # the nested run ended as the stop left it; the pipeline run is still open: MLflow's exit
    # handler would end it FINISHED, ours (registered after it, so run first) ends it KILLED
    assert client.get_run(search).info.status == "KILLED"
    interruptions.close_interrupted_runs()
    assert mlflow.active_run() is None
    for run_id in (parent.info.run_id, search):
        run = client.get_run(run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags[interruptions.SIGNAL_TAG] == "SIGTERM"
        assert run.data.tags[interruptions.NODE_TAG] == "demo.search_architecture"
        assert run.data.tags[interruptions.EPOCH_TAG] == "2"
        assert run.data.tags[interruptions.AT_TAG] == "search epoch 2/3 > batch 3/4"
    assert signal.getsignal(signal.SIGTERM) is not interruptions._on_signal  # given back


def test_an_exception_ends_the_run_failed_with_the_error_as_a_tag(mlflow_experiment):
    client = MlflowClient()
    with mlflow.start_run() as parent:
        with pytest.raises(ValueError, match="lr"), tracking.nested_run("search") as search:
            raise ValueError("lr must be positive")
        assert mlflow.active_run().info.run_id == parent.info.run_id
        hook = RunLifecycleHook()
        hook._run_id = parent.info.run_id
        hook.on_pipeline_error(error=ValueError("lr must be positive"))
    run = client.get_run(search)
    assert run.info.status == "FAILED"
    assert run.data.tags[interruptions.ERROR_TAG] == "ValueError: lr must be positive"
    tags = client.get_run(parent.info.run_id).data.tags
    assert tags[interruptions.ERROR_TAG] == "ValueError: lr must be positive"


def test_runs_of_a_dead_process_of_this_host_are_marked_killed_and_no_other(mlflow_experiment):
    client = MlflowClient()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    me = interruptions.process_tags()
    cases = {
        "dead": {**me, "pid": dead.stdout.strip()},
        "alive": me,
        "reused pid": {**me, "pid_start": "another boot/1"},
        "other host": {**me, "host": f"not-{socket.gethostname()}", "pid": dead.stdout.strip()},
        "no pid": {},
    }
    runs = {
        name: client.create_run(mlflow_experiment, tags=t).info.run_id for name, t in cases.items()
    }
    marked = interruptions.mark_orphaned_runs(client, found_by="the next run")
    assert sorted(marked) == sorted([runs["dead"], runs["reused pid"]])
    for name, run_id in runs.items():
        run = client.get_run(run_id)
        assert run.info.status == ("KILLED" if run_id in marked else "RUNNING"), name
    tags = client.get_run(runs["dead"]).data.tags
    assert tags[interruptions.DETECTED_BY_TAG] == "the next run"
    assert "ended without closing the run" in tags[interruptions.CAUSE_TAG]


def test_a_pipeline_run_links_to_the_unfinished_run_of_the_same_command(mlflow_experiment):
    client = MlflowClient()
    key = interruptions.command_key({"pipeline_names": ["darts_fer"], "env": None})
    other = interruptions.command_key({"pipeline_names": ["rnas_mer"], "env": None})
    assert key != other
    tags = {interruptions.COMMAND_KEY_TAG: key}
    finished = client.create_run(mlflow_experiment, tags=tags)
    client.set_terminated(finished.info.run_id)
    first = client.create_run(mlflow_experiment, tags=tags)
    assert interruptions.link_resumed_run(client, first.info, key) is None  # after a finished one
    client.set_terminated(first.info.run_id, "KILLED")
    client.create_run(mlflow_experiment, tags={interruptions.COMMAND_KEY_TAG: other})
    second = client.create_run(mlflow_experiment, tags=tags)
    assert interruptions.link_resumed_run(client, second.info, key) == first.info.run_id
    assert client.get_run(second.info.run_id).data.tags["resumes_run_id"] == first.info.run_id


def test_runs_are_named_and_tagged_by_their_labels(mlflow_experiment):
    tracking.set_labels(pipeline="rnas_mer", corpus="demo_composite", variant="no_attention")
    try:
        with (
            mlflow.start_run(),
            tracking.nested_run("loso") as loso,
            tracking.nested_run("fold sub03", fold="sub03") as fold,
        ):
            pass
    finally:
        tracking.set_labels()
    client = MlflowClient()
    assert client.get_run(loso).info.run_name == "rnas_mer · demo_composite · no_attention · loso"
    run = client.get_run(fold)
    assert run.info.run_name == "rnas_mer · demo_composite · no_attention · fold sub03"
    assert {k: run.data.tags[k] for k in tracking.LABELS} == {
        "pipeline": "rnas_mer", "corpus": "demo_composite", "variant": "no_attention",
        "fold": "sub03",
    }  # fmt: skip
    assert run.data.tags["pid"] == str(os.getpid())
    assert tracking.run_name("model[darts] demo_ckplus", {"corpus": "demo_ckplus"}) == (
        "model[darts] demo_ckplus"
    )
    with pytest.raises(TypeError, match="unknown run labels"):
        tracking.set_labels(subject="sub01")


def test_compared_parameters_are_short_flat_columns():
    parameters = {
        "rnas_mer": {
            "variant": "no_hybrid",
            "search": {"order": "second", "epochs": 30},
            "search_space": {"channels": 8},
            "training": {"epochs": 70},
        },
        "cross_database": {"training": {"epochs": 5}},
    }
    assert tracking.compared_parameters(parameters) == {
        "variant": "no_hybrid",
        "search.order": "second",
        "search.epochs": "30",
        "search.channels": "8",
        "training.epochs": "5 / 70",
    }


def test_progress_logs_at_intervals_off_a_terminal_and_names_where_it_is(monkeypatch, caplog):
    monkeypatch.setenv(progress.MODE_VARIABLE, "log")
    monkeypatch.setenv(progress.SECONDS_VARIABLE, "0")
    seen = []
    with caplog.at_level(logging.INFO, logger="expression_nas.progress"):
        for _ in progress.track(range(2), "search", "epoch", total=3, initial=1):
            for _ in progress.track(["a", "b"], "search epoch 2/3", "batch"):
                seen.append((progress.where(), progress.epoch()))
    assert seen[:2] == [("search epoch 2/3 > batch 1/2", 2), ("search epoch 2/3 > batch 2/2", 2)]
    assert seen[2][0] == "search epoch 3/3 > batch 1/2"
    assert progress.where() == "" and progress.epoch() is None
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("search epoch 2/3: batch 1/2 after")
    assert sum(line.startswith("search: epoch") for line in lines) == 2  # one an epoch, no repeat

    monkeypatch.setenv(progress.MODE_VARIABLE, "off")
    caplog.clear()
    with progress.counter("trials", "trial", 2) as trials:
        trials.update()
        assert progress.where() == "trials trial 2/2"
    assert not caplog.records
    monkeypatch.setenv(progress.MODE_VARIABLE, "loud")
    with pytest.raises(ValueError, match="EXPRESSION_NAS_PROGRESS"):
        progress.mode()

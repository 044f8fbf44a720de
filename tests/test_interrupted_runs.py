"""Real signals sent to a real ``kedro run`` of a tiny DARTS search, in a subprocess: what MLflow
records after each kind of stop, and that resuming after all of them derives the architecture
of a straight run.

One project (a copy of conf/base with tiny settings) runs the search straight once, then the
same search as a chain of stops: SIGINT in its 2nd epoch, resumed and stopped by SIGTERM in
its 3rd, resumed and killed (SIGKILL) in its 4th, and resumed to the end. Each stop comes
right after the first batch of the second epoch a process runs (the log line of the progress
report), so that each run has written a checkpoint of its own before it is stopped.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from tiny_projects import subprocess_environment, tiny_project

from expression_nas import interruptions as intr

pytestmark = pytest.mark.slow

EPOCHS = 4
TINY = f"""
data_preparation:
  corpora:
    demo_fer2013:
      demo: {{training: [4, 2, 4, 4, 4, 4, 4], test: [2, 1, 2, 2, 2, 2, 2]}}
darts_fer:
  search_space: {{channels: 2, layers: 3, nodes: 2}}
  search: {{epochs: {EPOCHS}, batch_size: 4}}
"""
SEARCH_NODE = "darts_fer.search_architecture"
#: The straight run prepares the data; the chain reuses it.
STRAIGHT = ("--pipelines=darts_fer", f"--to-nodes={SEARCH_NODE}")
CHAIN = (*STRAIGHT, "--from-nodes=darts_fer.split_search_data")
FIRST_BATCH = re.compile(r"search epoch (\d+)/\d+: batch 1/")
TIMEOUT = 600


def _environment() -> dict[str, str]:
    return subprocess_environment(
        PYTHONUNBUFFERED="1",
        COLUMNS="250",  # one log record a line
        EXPRESSION_NAS_PROGRESS="log",
        EXPRESSION_NAS_PROGRESS_SECONDS="0",  # a line per batch: the marker to signal on
    )


class KedroRun:
    """``kedro run`` in ``project``, its output collected line by line."""

    def __init__(self, project: Path, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", *arguments],
            cwd=project,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.epochs: list[int] = []  # the search epochs it started, in order
        self._second_epoch = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if match := FIRST_BATCH.search(line):
                self.epochs.append(int(match.group(1)))
                if len(self.epochs) == 2:
                    self._second_epoch.set()

    def output(self) -> str:
        return "".join(self.lines[-80:])

    def stop_in_second_epoch(self, signum: int) -> int:
        """Send ``signum`` once the second epoch this process runs has done one batch."""
        assert self._second_epoch.wait(TIMEOUT), self.output()
        self.process.send_signal(signum)
        return self.wait()

    def wait(self) -> int:
        code = self.process.wait(TIMEOUT)
        self._reader.join(30)
        return code


@dataclass
class Stop:
    code: int
    epoch: int
    checkpoints: list[Path]
    pipeline: mlflow.entities.Run
    search: mlflow.entities.Run
    output: str


def _client(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def _runs_of(project: Path, pid: int) -> tuple[mlflow.entities.Run, mlflow.entities.Run]:
    """The pipeline run and the search run of the process ``pid``."""
    client = _client(project)
    experiment = client.get_experiment_by_name("expression_nas")
    runs = client.search_runs([experiment.experiment_id], f"tags.pid = '{pid}'")
    pipeline = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    search = [r for r in runs if r.data.tags.get("kind") == "search"]
    assert len(pipeline) == 1 and len(search) == 1, [r.info.run_name for r in runs]
    return pipeline[0], search[0]


def _architecture(project: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The derived genotype and the final softmaxed alphas."""
    spec = json.loads((project / "data/06_models/darts_fer/architecture_spec.json").read_text())
    report = json.loads((project / "data/08_reporting/darts_fer/search_report.json").read_text())
    last = report["arch_history"][-1]
    return spec["genotype"], {k: np.asarray(v) for k, v in last.items() if k.startswith("alpha")}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    project = tiny_project(tmp_path_factory.mktemp("interrupts"), TINY)

    straight_run = KedroRun(
        project, *STRAIGHT, "--params=darts_fer.checkpoint_dir=data/06_models/straight"
    )
    assert straight_run.wait() == 0, straight_run.output()
    straight = _architecture(project)
    (project / "data/06_models/darts_fer/architecture_spec.json").unlink()

    stops = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        run = KedroRun(project, *CHAIN)
        code = run.stop_in_second_epoch(signum)
        pipeline, search = _runs_of(project, run.process.pid)
        checkpoints = sorted((project / "data/06_models/darts_fer/checkpoints").glob("*.pt"))
        stops[signum] = Stop(code, run.epochs[1], checkpoints, pipeline, search, run.output())
    resumed = KedroRun(project, *CHAIN)
    assert resumed.wait() == 0, resumed.output()
    final = _runs_of(project, resumed.process.pid)
    return project, straight, stops, final


def _status(project: Path, run: mlflow.entities.Run) -> mlflow.entities.Run:
    return _client(project).get_run(run.info.run_id)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_every_run_killed_with_where_it_came(chain, signum, code):
    project, _, stops, _ = chain
    stop = stops[signum]
    assert stop.code == code, stop.output
    assert "the open MLflow runs end KILLED" in stop.output
    assert stop.checkpoints, "the checkpoint must stay"
    for run in (_status(project, r) for r in (stop.pipeline, stop.search)):
        assert run.info.status == "KILLED"
        assert run.data.tags[intr.SIGNAL_TAG] == signal.Signals(signum).name
        assert run.data.tags[intr.NODE_TAG] == SEARCH_NODE
        assert run.data.tags[intr.EPOCH_TAG] == str(stop.epoch)
        assert re.fullmatch(
            rf"search epoch {stop.epoch}/{EPOCHS} > batch \d+/\d+", run.data.tags[intr.AT_TAG]
        )


def test_a_killed_process_leaves_running_runs_that_the_next_run_marks_killed(chain):
    project, _, stops, final = chain
    stop = stops[signal.SIGKILL]
    assert stop.code == -signal.SIGKILL
    assert stop.pipeline.info.status == "RUNNING" and stop.search.info.status == "RUNNING"
    for run in (_status(project, r) for r in (stop.pipeline, stop.search)):
        assert run.info.status == "KILLED"
        assert run.data.tags[intr.SIGNAL_TAG] == "unknown"
        assert f"process {stop.pipeline.data.tags['pid']} on" in run.data.tags[intr.CAUSE_TAG]
        assert run.data.tags[intr.DETECTED_BY_TAG] == final[0].info.run_id
        assert run.info.end_time >= run.info.start_time


def test_each_resumed_run_links_to_the_run_it_resumes(chain):
    project, _, stops, final = chain
    runs = [(s.pipeline, s.search) for s in stops.values()] + [final]
    assert intr.RESUMES_TAG not in runs[0][0].data.tags
    for (before_pipeline, before_search), (pipeline, search) in itertools.pairwise(runs):
        assert pipeline.data.tags[intr.RESUMES_TAG] == before_pipeline.info.run_id
        assert search.data.tags[intr.RESUMES_TAG] == before_search.info.run_id
    epochs = [int(search.data.tags["resumed_after_epoch"]) for _, search in runs[1:]]
    assert epochs == [stop.epoch - 1 for stop in stops.values()]
    assert _status(project, final[0]).info.status == "FINISHED"


def test_the_experiment_opens_on_its_runs_and_the_runs_are_named_by_what_they_are(chain):
    project, _, _, (pipeline, search) = chain
    client = _client(project)
    experiment = client.get_experiment(pipeline.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert pipeline.info.run_name == "darts_fer"
    assert search.info.run_name == "darts_fer · demo_fer2013 · search[darts]"
    assert search.data.tags["corpus"] == "demo_fer2013"
    assert pipeline.data.params["search.epochs"] == str(EPOCHS)
    assert pipeline.data.params["search.channels"] == "2"


def test_resuming_after_every_kind_of_stop_derives_the_straight_architecture(chain):
    project, (genotype, weights), _, final = chain
    resumed_genotype, resumed_weights = _architecture(project)
    assert resumed_genotype == genotype
    assert resumed_weights.keys() == weights.keys() and weights
    for name, values in weights.items():
        np.testing.assert_allclose(resumed_weights[name], values, rtol=1e-6)
    metrics = _client(project).get_metric_history(final[1].info.run_id, "val_loss")
    assert [m.step for m in metrics] == list(range(EPOCHS))  # the whole history, once

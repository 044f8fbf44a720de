"""The project hooks: wrong parameters stop a run before any node runs, and MLflow logs typed
parameters under the keys it logged the parameter dicts under."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Node
from kedro.runner import SequentialRunner
from kedro_mlflow.framework.hooks import MlflowHook

from expression_nas.hooks import TypedParamsMlflowHook
from expression_nas.parameters import InvalidParametersError, check_parameters
from expression_nas.settings import CONFIG_LOADER_ARGS

PROJECT = Path(__file__).resolve().parents[1]
KEDRO_RUN = (sys.executable, "-m", "kedro", "run")


def test_a_typo_on_the_command_line_stops_kedro_run_within_seconds():
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "250",  # one problem a line in rich's traceback
    }
    started = time.perf_counter()
    result = subprocess.run(
        [*KEDRO_RUN, "--pipelines=rnas_mer", "--params", "rnas_mer.variant=no_attenton"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "rnas_mer.variant = 'no_attenton'" in output
    assert "'no_attention'" in output and "'autodeeplab3d'" in output
    assert "Running node" not in output and "Loading data" not in output
    assert seconds < 60


class _RefusingRunner(SequentialRunner):
    def run(self, *args, **kwargs):
        raise AssertionError("a node ran with invalid parameters")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"darts_fer": {"search": {"epochs": -3}}}, "darts_fer.search.epochs = -3"),
        ({"data_preparation": {"augmentation": {"copies": 1.5}}}, "augmentation.copies = 1.5"),
    ],
)
def test_a_session_refuses_invalid_parameters_before_the_run(override, key):
    bootstrap_project(PROJECT)
    session = KedroSession.create(project_path=PROJECT, runtime_params=override)
    with session, pytest.raises(InvalidParametersError, match=key.replace(".", r"\.")):
        session.run(pipeline_names=["darts_fer"], runner=_RefusingRunner())


def _logged_params(hook: MlflowHook, inputs: dict, experiment: str, name: str) -> dict:
    hook.flatten, hook.recursive, hook.sep = True, True, "."  # conf/base/mlflow.yml
    hook.long_params_strategy = "tag"
    with mlflow.start_run(experiment_id=experiment, run_name=name) as run:
        node = Node(lambda *args: None, list(inputs), None, name="node")
        hook.before_node_run(node=node, catalog=None, inputs=inputs, is_async=False)
    return mlflow.get_run(run.info.run_id).data.params


def test_mlflow_logs_typed_parameters_under_the_keys_of_the_dicts(tmp_path):
    raw = OmegaConfigLoader(
        conf_source=str(PROJECT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "base"}
    )["parameters"]
    typed = check_parameters(raw)
    corpus = "data_preparation.corpora.demo_composite"
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("hooks", (tmp_path / "artifacts").as_uri())

    def inputs(source, composite):
        return {"params:rnas_mer": source["rnas_mer"], f"params:{corpus}": composite}

    logged = _logged_params(
        TypedParamsMlflowHook(),
        inputs(typed, typed["data_preparation"].corpora["demo_composite"]),
        experiment,
        "typed",
    )
    before = _logged_params(
        MlflowHook(),
        inputs(raw, raw["data_preparation"]["corpora"]["demo_composite"]),
        experiment,
        "dicts",
    )
    assert logged == before
    assert logged["rnas_mer.search.epochs"] == "2"
    assert logged[f"{corpus}.root.casme2"] == "data/01_raw/demo/casme2"

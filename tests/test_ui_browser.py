"""The two UIs as a user sees them: kedro-viz and the MLflow UI served after a tiny pipeline
run, loaded in headless Chromium, with the node and run names read from the rendered page.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); without them
the tests are skipped, saying so. The screenshots go to ``data/08_reporting/ui/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
from tiny_projects import PROJECT, TINY_DARTS_FER, subprocess_environment, tiny_project

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = PROJECT / "data" / "08_reporting" / "ui"
CHROMEDRIVER = shutil.which("chromedriver")
#: Nodes of the main job (rnas_mer), in its collapsed-by-default namespace demo_composite
MAIN_JOB_NODES = ("align_faces", "search_architectures", "evaluate_loso", "train_release_model")
TIMEOUT = 600
#: MLflow 3.17 opens an experiment in its GenAI view whatever its experimentKind tag says; the
#: workflowType query selects the model-training view, whose first page is the runs table.
RUNS_TABLE = "/#/experiments/{}/runs?workflowType=machine_learning"

if not (CHROMEDRIVER and shutil.which("chromium")):
    if os.environ.get("CI"):  # .ci/run installs them: their absence there is a failure
        raise RuntimeError("CI: chromium and chromium-driver missing (see .ci/browser)")
    pytest.skip("needs chromium and chromium-driver (apt-get install)", allow_module_level=True)


def _environment() -> dict[str, str]:
    return subprocess_environment(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server for {url} exited with {server.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {TIMEOUT} s")


def _serve(project: Path, command: list[str], url: str, log: Path) -> Iterator[str]:
    """Start ``command`` in its own process group, wait for ``url``, stop the group after."""
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            cwd=project,
            env=_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of conf/base with tiny settings, after a tiny DARTS search."""
    project = tiny_project(tmp_path_factory.mktemp("ui"), TINY_DARTS_FER)
    run = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--pipelines=darts_fer",
         "--to-nodes=darts_fer.search_architecture"],
        cwd=project, env=_environment(), capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return project


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1600,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _rendered_text(driver, wanted: tuple[str, ...]) -> str:
    """The page's rendered text (SVG labels included) once every string of ``wanted`` is in
    it, compared without case and with underscores read as spaces (kedro-viz's pretty names)."""

    def normal(text: str) -> str:
        return re.sub(r"\s+", " ", text.replace("_", " ")).lower()

    def found(driver) -> str | bool:
        text = normal(
            driver.execute_script(
                "return document.body.innerText + ' ' + "
                "[...document.querySelectorAll('svg text')]"
                ".map(t => t.textContent).join(' ')"
            )
        )
        return text if all(normal(name) in text for name in wanted) else False

    return WebDriverWait(driver, 120, poll_frequency=1).until(found)


def _screenshot(driver, name: str) -> None:
    time.sleep(3)  # both UIs fade their content in
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / name))


def test_kedro_viz_shows_the_main_job_s_nodes_expanded(project, browser):
    port = _free_port()
    command = [sys.executable, "-m", "expression_nas.viz", "--port", str(port)]
    for url in _serve(project, command, f"http://127.0.0.1:{port}/api/main", project / "viz.log"):
        browser.get(url.replace("/api/main", "/?pid=rnas_mer&expandAllPipelines=true"))
        text = _rendered_text(browser, MAIN_JOB_NODES)
        assert "none is here" not in text  # the offline update banner
        _screenshot(browser, "kedro_viz.png")


def test_mlflow_ui_shows_the_runs_table_with_readable_run_names(project, browser):
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("expression_nas")
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    names = [run.info.run_name for run in runs]
    assert "darts_fer · demo_fer2013 · search[darts]" in names, names
    # The table lists the pipeline runs; their nested runs open under them.
    pipeline_runs = tuple(r.info.run_name for r in runs if "mlflow.parentRunId" not in r.data.tags)
    port = _free_port()
    command = [
        sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
        f"sqlite:///{project / 'mlflow.db'}", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    for url in _serve(project, command, f"http://127.0.0.1:{port}/health", project / "ui.log"):
        browser.get(url.replace("/health", RUNS_TABLE.format(experiment.experiment_id)))
        text = _rendered_text(browser, (*pipeline_runs, "run name", "duration"))
        assert "token usage" not in text  # MLflow's GenAI overview
        _screenshot(browser, "mlflow_runs.png")

"""Tiny copies of the project for tests that run ``kedro run`` or a server in a subprocess: the
project's conf/base plus tiny settings in conf/local, the package from this checkout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

#: A DARTS search of one epoch on a handful of demo FER2013 images (seconds).
TINY_DARTS_FER = """
data_preparation:
  corpora:
    demo_fer2013:
      demo: {training: [4, 2, 4, 4, 4, 4, 4], test: [2, 1, 2, 2, 2, 2, 2]}
darts_fer:
  search_space: {channels: 2, layers: 3, nodes: 2}
  search: {epochs: 1, batch_size: 4}
"""


def tiny_project(root: Path, parameters_yaml: str) -> Path:
    """A project under ``root`` whose conf/local/parameters_tiny.yml is ``parameters_yaml``."""
    project = root / "project"
    (project / "conf" / "local").mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", project)
    shutil.copytree(PROJECT / "conf" / "base", project / "conf" / "base")
    (project / "conf" / "local" / "parameters_tiny.yml").write_text(parameters_yaml)
    (project / "src").mkdir()  # Kedro wants it; the package comes from PYTHONPATH
    return project


def subprocess_environment(**extra: str) -> dict[str, str]:
    """This checkout's package first on the path, one torch thread, no telemetry."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",  # tiny convolutions: one thread is fastest on a busy machine
        "KEDRO_DISABLE_TELEMETRY": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        **extra,
    }

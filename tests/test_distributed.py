"""Data-parallel search and training on 2 real CPU processes (torchrun, gloo).

``tests/ddp_worker.py`` runs once under ``torchrun --nproc_per_node=2`` with batch 4 per rank
and once as one plain process with batch 8; both end up with the same weights. Its networks
have no BatchNorm, where a step on two shards is exactly a step on their union; with
BatchNorm each rank normalises by its own shard's statistics (as DDP does without
SyncBatchNorm, which gloo on the CPU does not run), so the DARTS supernet case checks only that
the replicas agree with each other.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
from tiny_projects import TINY_DARTS_FER, subprocess_environment, tiny_project

WORKER = Path(__file__).with_name("ddp_worker.py")
TOLERANCE = 1e-6  # float32 sums in another order
SEARCHES = ("search_first", "search_second", "search_stn")

pytestmark = pytest.mark.slow  # two process starts with torch: ~20-40 s on 2 busy cores


def _run(command: list[str]) -> None:
    done = subprocess.run(
        command,
        check=False,
        env=subprocess_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    two, one = tmp_path_factory.mktemp("world2"), tmp_path_factory.mktemp("world1")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    _run([*torchrun, "--nproc_per_node=2", str(WORKER), str(two), "4"])
    _run(
        [sys.executable, str(WORKER), str(one), "8", "--resume-from", str(two / "after_epoch_0.pt")]
    )
    return two, one


def _load(folder: Path, case: str, rank: int = 0) -> dict:
    return torch.load(folder / f"{case}_rank{rank}.pt", weights_only=False)


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.mark.parametrize("case", [*SEARCHES, "training", "resume", "darts"])
def test_replicas_stay_identical(runs, case):
    two, _ = runs
    assert _max_difference(_load(two, case, 0)["model"], _load(two, case, 1)["model"]) == 0.0


@pytest.mark.parametrize("case", [*SEARCHES, "training"])
def test_two_ranks_of_batch_b_equal_one_process_of_batch_2b(runs, case):
    two, one = runs
    distributed, single = _load(two, case), _load(one, case)
    assert _max_difference(distributed["model"], single["model"]) < TOLERANCE
    for a, b in zip(distributed["history"], single["history"], strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "loss"):
            if key in a:
                assert a[key] == pytest.approx(b[key], abs=TOLERANCE), key


def test_a_world_size_2_checkpoint_resumes_under_world_size_1(runs):
    two, one = runs
    resumed, straight = _load(one, "resume"), _load(two, "resume")
    assert resumed["resumed_from"] == 1 and straight["resumed_from"] == 0
    assert _max_difference(resumed["model"], straight["model"]) < TOLERANCE


def test_rank_0_alone_writes_checkpoints(runs):
    two, _ = runs
    assert (two / "darts_checkpoint_rank0.pt").exists()
    assert (two / "resume_checkpoint_rank0.pt").exists()
    assert not list(two.glob("*_checkpoint_rank1.pt"))


def test_kedro_run_under_torchrun_writes_once_from_rank_0(tmp_path):
    """``torchrun -m expression_nas run``: both ranks run the pipeline, rank 0 alone opens
    MLflow runs and writes the catalog's files and the checkpoint."""
    project = tiny_project(tmp_path, TINY_DARTS_FER)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"),
            *("-m", "expression_nas", "run", "--pipelines=darts_fer"),
            "--to-nodes=darts_fer.search_architecture",
        ],
        check=False,
        cwd=project,
        env=subprocess_environment(EXPRESSION_NAS_PROGRESS="off"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "rank 1 of 2 joined the gloo" in done.stdout + done.stderr
    assert (project / "data/06_models/darts_fer/architecture_spec.json").exists()
    assert len(list((project / "data/06_models/darts_fer/checkpoints").glob("*.pt"))) == 1
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("expression_nas")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [
        "darts_fer",
        "darts_fer · demo_fer2013 · search[darts]",
    ]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["pid"] for r in runs}) == 1

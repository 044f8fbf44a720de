"""One Optuna study that several worker processes, on one machine or many, share through
Optuna's storage (no job system of our own).

- Storage: a path is a journal file (``JournalFileBackend``: several processes of one machine
  append to it under a file lock); a URL (``sqlite:///...``, ``postgresql://user:pw@host/db``)
  is an RDB storage, which machines share. RDB storages also get Optuna's heartbeat, so a
  trial whose process died anywhere is failed once its heartbeat is ``grace_period`` old.
- Workers: ``run_study`` starts ``n_workers`` processes (spawn), each running
  ``study.optimize`` on its share of the trials still missing, with
  ``torch.set_num_threads(cores // n_workers)``. Another machine running the same code on
  the same storage URL adds its own workers; ``MaxTrialsCallback`` stops everyone once the
  study holds its target.
- Resume: the study is opened with ``load_if_exists``; a trial left RUNNING by a process of
  this host that no longer exists (a killed run) is marked failed, and every failed trial is
  re-queued once per allowed retry (a WAITING copy with the same parameters, Optuna's
  ``RetryHeartbeatStaleTrialCallback``), so an interrupted trial is re-run, not lost.
- Reports: the study's trials as a table, Optuna's matplotlib plots, and each finished trial
  as a nested MLflow run. Trials are logged by the parent after the search, from the trial
  records in the storage (parameters, per-epoch history, value, user attributes): the
  workers never write to MLflow, so no two processes race on its store, and a trial that
  ran on another machine or in an interrupted run is still logged exactly once (the study's
  trials already in the MLflow experiment are skipped).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import optuna
import torch
from matplotlib.figure import Figure
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from optuna.visualization import matplotlib as optuna_plots

from expression_nas import progress, tracking
from expression_nas.training.loop import torch_threads

logger = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: user attribute naming the process that runs a trial: {"host": ..., "pid": ...}
WORKER_ATTR = "worker"
#: user attribute with one record per epoch ({"epoch": 1-based, metric: value, ...})
HISTORY_ATTR = "history"
PRUNERS = ("none", "median", "hyperband")


@dataclass(frozen=True)
class StudyConfig:
    """Where the study lives and how its trials are drawn; see the module docstring."""

    name: str
    storage: str
    direction: str = "minimize"
    seed: int = 0
    n_startup_trials: int = 10
    multivariate: bool = False
    constant_liar: bool = True
    pruner: str = "none"
    pruner_warmup_steps: int = 5
    max_resource: int = 100
    max_retries: int = 1
    heartbeat_interval: int = 60
    grace_period: int = 600

    def __post_init__(self) -> None:
        if self.pruner not in PRUNERS:
            raise ValueError(f"pruner {self.pruner!r}: expected one of {PRUNERS}")

    @property
    def key(self) -> str:
        """The study's name and storage (without a password): the MLflow tag of its trials."""
        return f"{self.name}@{_without_password(self.storage)}"


@contextmanager
def _quiet() -> Iterator[None]:
    """Without Optuna's ExperimentalWarning (its retry helpers and matplotlib plots)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _without_password(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"


def open_storage(config: StudyConfig) -> optuna.storages.BaseStorage:
    """The journal file at a path, or the RDB storage of a URL (with the heartbeat)."""
    if "://" in config.storage:
        with _quiet():
            return optuna.storages.RDBStorage(
                config.storage,
                heartbeat_interval=config.heartbeat_interval,
                grace_period=config.grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(config.max_retries),
            )
    path = Path(config.storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def _pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(n_warmup_steps=config.pruner_warmup_steps)
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(max_resource=config.max_resource)
    return optuna.pruners.NopPruner()


def open_study(config: StudyConfig, worker: int = 0, offset: int = 0) -> optuna.Study:
    """The study (created on first use, loaded after), with a TPE sampler seeded from the
    config's seed, the worker's index and ``offset`` (the trials the study held when the run
    began), so parallel workers and resumed runs do not replay each other's random draws."""
    seed = int(np.random.SeedSequence([config.seed, offset, worker]).generate_state(1)[0])
    with _quiet():
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=config.n_startup_trials,
            multivariate=config.multivariate,
            constant_liar=config.constant_liar,
            seed=seed,
        )
    return optuna.create_study(
        study_name=config.name,
        storage=open_storage(config),
        sampler=sampler,
        pruner=_pruner(config),
        direction=config.direction,
        load_if_exists=True,
    )


def suggest(trial: optuna.Trial, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """One value per dimension of ``space`` (Optuna's float and int distributions)."""
    values: dict[str, Any] = {}
    for name, dimension in space.items():
        if isinstance(dimension, IntDistribution):
            values[name] = trial.suggest_int(
                name, dimension.low, dimension.high, step=dimension.step, log=dimension.log
            )
        elif isinstance(dimension, FloatDistribution):
            values[name] = trial.suggest_float(
                name, dimension.low, dimension.high, step=dimension.step, log=dimension.log
            )
        else:
            raise TypeError(f"{name}: unsupported distribution {type(dimension).__name__}")
    return values


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _orphaned(trial: FrozenTrial) -> bool:
    """A RUNNING trial whose process, on this host, no longer exists."""
    worker = trial.user_attrs.get(WORKER_ATTR) or {}
    return (
        trial.state == TrialState.RUNNING
        and worker.get("host") == socket.gethostname()
        and worker.get("pid") != os.getpid()
        and not _alive(int(worker.get("pid", 0)))
    )


def recover_interrupted(study: optuna.Study, max_retries: int) -> list[int]:
    """Fail the orphaned RUNNING trials of this host, then re-queue every failed trial not yet
    re-queued (at most ``max_retries`` times along one chain of retries). Returns the numbers
    of the trials re-queued."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _orphaned(trial):
            logger.warning("trial %d was interrupted (its process is gone): failed", trial.number)
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    trials = study.get_trials(deepcopy=False)
    numbers = []
    with _quiet():
        requeued = {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
        retry = RetryHeartbeatStaleTrialCallback(max_retries)
        for trial in trials:
            if trial.state == TrialState.FAIL and trial.number not in requeued:
                before = len(study.get_trials(deepcopy=False))
                retry(study, trial)
                if len(study.get_trials(deepcopy=False)) > before:
                    numbers.append(trial.number)
    if numbers:
        logger.info("re-queued failed or interrupted trials %s", numbers)
    return numbers


class _MarkedObjective:
    """The objective, with the trial's worker (host, pid) recorded first."""

    def __init__(self, objective: Callable[[optuna.Trial], float]) -> None:
        self.objective = objective

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, {"host": socket.gethostname(), "pid": os.getpid()})
        return self.objective(trial)


def optimize(
    config: StudyConfig,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    target: int,
    threads: int,
    worker: int = 0,
    offset: int = 0,
) -> None:
    """One worker: at most ``n_trials`` trials, stopping once the study holds ``target``
    finished trials. A trial that raises is recorded as failed and the worker goes on."""
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(config, worker, offset)
    with progress.counter(f"study {config.key} worker {worker}", "trial", n_trials) as trials:
        study.optimize(
            _MarkedObjective(objective),
            n_trials=n_trials,
            callbacks=[
                optuna.study.MaxTrialsCallback(target, states=FINISHED),
                lambda _study, _trial: trials.update(),
            ],
            catch=(Exception,),
            gc_after_trial=True,
        )


def shares(remaining: int, n_workers: int) -> list[int]:
    """``remaining`` trials dealt to ``n_workers`` as evenly as possible (zeros dropped)."""
    base, extra = divmod(max(0, remaining), n_workers)
    return [n for n in (base + (i < extra) for i in range(n_workers)) if n > 0]


def run_study(
    config: StudyConfig,
    objective: Callable[[optuna.Trial], float],
    target: int,
    n_workers: int,
) -> tuple[optuna.Study, dict[str, Any]]:
    """Bring the study to ``target`` finished trials with ``n_workers`` processes (one: in
    this process); returns the study and a record of this run (trials before and after,
    re-queued trials, workers, threads, wall seconds). ``objective`` must be picklable."""
    study = open_study(config)
    requeued = recover_interrupted(study, config.max_retries)
    before = len(study.get_trials(deepcopy=False, states=FINISHED))
    offset = len(study.get_trials(deepcopy=False))
    work = shares(target - before, n_workers)
    cores = len(os.sched_getaffinity(0))
    threads = max(1, cores // max(1, len(work)))
    logger.info(
        "study %s: %d finished trials of %d wanted; %d worker(s) x %d thread(s) run %s",
        config.key,
        before,
        target,
        len(work),
        threads,
        work,
    )
    started = time.perf_counter()
    if len(work) == 1:
        with torch_threads(threads):
            optimize(config, objective, work[0], target, threads, 0, offset)
    elif work:
        _run_processes(config, objective, work, target, threads, offset)
    seconds = time.perf_counter() - started
    study = open_study(config)
    return study, {
        "finished_before": before,
        "finished_after": len(study.get_trials(deepcopy=False, states=FINISHED)),
        "requeued": requeued,
        "workers": len(work),
        "threads_per_worker": threads,
        "seconds": seconds,
    }


def _run_processes(
    config: StudyConfig,
    objective: Callable[[optuna.Trial], float],
    work: list[int],
    target: int,
    threads: int,
    offset: int,
) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=optimize,
            args=(config, objective, n, target, threads, worker, offset),
            name=f"optuna-worker-{worker}",
        )
        for worker, n in enumerate(work)
    ]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"Optuna worker(s) {failed} exited abnormally (see their log above)")


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One flat row per trial: number, state, value, seconds, parameters and the scalar user
    attributes (the per-epoch history and the worker are left out)."""
    rows = []
    with _quiet():
        retried = {
            t.number: RetryHeartbeatStaleTrialCallback.retried_trial_number(t)
            for t in study.get_trials(deepcopy=False)
        }
    for trial in study.get_trials(deepcopy=False):
        seconds = (
            (trial.datetime_complete - trial.datetime_start).total_seconds()
            if trial.datetime_complete and trial.datetime_start
            else None
        )
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "seconds": seconds,
                **trial.params,
                **{
                    k: v
                    for k, v in trial.user_attrs.items()
                    if isinstance(v, int | float | str | bool)
                },
                "retry_of": retried[trial.number],
            }
        )
    return rows


def search_seconds(study: optuna.Study) -> float:
    """The study's total trial time (sum over finished and failed trials): its search cost."""
    return sum(row["seconds"] for row in trial_rows(study) if row["seconds"] is not None)


def _note(text: str) -> Figure:
    figure = Figure(figsize=(6, 2))
    figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return figure


def study_figures(study: optuna.Study) -> dict[str, Figure]:
    """Optuna's own matplotlib plots: optimization history, parallel coordinate, parameter
    importances (fANOVA) and slice. A plot Optuna cannot draw yet (too few complete trials)
    becomes a figure that says why."""
    plots = {
        "optimization_history": optuna_plots.plot_optimization_history,
        "parallel_coordinate": optuna_plots.plot_parallel_coordinate,
        "param_importances": optuna_plots.plot_param_importances,
        "slice": optuna_plots.plot_slice,
    }
    figures = {}
    with _quiet():
        for name, plot in plots.items():
            try:
                axes = plot(study)
            except (ValueError, RuntimeError) as error:
                logger.warning("Optuna's %s plot is not drawn: %s", name, error)
                figures[name] = _note(f"{name}: {error}")
                continue
            figure = np.atleast_1d(axes).flat[0].figure
            figure.set_size_inches(max(figure.get_size_inches()[0], 8), 5)
            figures[name] = figure
    return figures


def log_trials(study: optuna.Study, config: StudyConfig) -> int:
    """Each finished or failed trial of the study not yet in the active run's MLflow
    experiment becomes a nested run of the active run: parameters, per-epoch history (step =
    epoch), value and scalar user attributes, with tags naming the study and the trial.
    Returns how many were logged (0 with no active run)."""
    if not tracking.active():
        return 0
    experiment = mlflow.active_run().info.experiment_id
    logged = {
        int(run.data.tags["optuna_trial"])
        for run in mlflow.MlflowClient().search_runs(
            [experiment], filter_string=f"tags.optuna_study = '{config.key}'", max_results=50000
        )
    }
    done = (*FINISHED, TrialState.FAIL)
    count = 0
    for trial in study.get_trials(deepcopy=False, states=done):
        if trial.number in logged:
            continue
        tags = {
            "kind": "trial",
            "optuna_study": config.key,
            "optuna_trial": str(trial.number),
            "state": trial.state.name,
        }
        with tracking.nested_run(f"trial {trial.number}", tags=tags):
            tracking.log_params(trial.params)
            for record in trial.user_attrs.get(HISTORY_ATTR, []):
                tracking.log_metrics(
                    {k: v for k, v in record.items() if k != "epoch"}, step=record["epoch"]
                )
            scalars = {
                k: v
                for k, v in trial.user_attrs.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            if trial.value is not None:
                scalars["value"] = trial.value
            tracking.log_metrics(scalars)
        count += 1
    logger.info("logged %d trial(s) of %s to MLflow", count, config.key)
    return count

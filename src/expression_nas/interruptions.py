"""How MLflow runs end when the process stops before its pipeline does.

- **SIGINT (Ctrl-C) and SIGTERM** (a scheduler's end of slot) raise ``RunInterrupted`` in the
  main thread, a ``SystemExit`` with the conventional status (130, 143) that no
  ``except Exception`` swallows. Every run of the process still open ends KILLED, tagged with
  the signal and where it came (node, epoch, the loops running): nested runs as the exception
  leaves them (``tracking.nested_run``), the rest at exit, before MLflow's own exit handler
  would end them FINISHED. Checkpoints are left as they are, so the next run resumes. A second
  signal while stopping exits at once, and the next run's sweep closes what was left open.
- **An exception** ends the runs FAILED with the error as the tag ``error``.
- **SIGKILL, out of memory, power loss**: nothing runs at that moment. Every run is tagged with
  its host, PID and the PID's start time (``process_tags``), so that ``mark_orphaned_runs``, at
  the next start, finds the runs left RUNNING by a process of this host that no longer exists
  and ends them KILLED. A run whose process is alive, or from another host, is never touched.

Signal handlers can only be installed from the main thread; elsewhere ``install`` does nothing.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from expression_nas import progress
from expression_nas.training.checkpoints import fingerprint

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: Tags of every run: which process on which host holds it open.
HOST_TAG, PID_TAG, PID_START_TAG = "host", "pid", "pid_start"
#: Tags of a run a stop ended.
SIGNAL_TAG = "interruption.signal"
NODE_TAG = "interruption.node"
EPOCH_TAG = "interruption.epoch"
AT_TAG = "interruption.at"
CAUSE_TAG = "interruption.cause"
DETECTED_BY_TAG = "interruption.detected_by_run"
#: Tags of a pipeline run: what command it ran, and the unfinished run of that command it resumes.
COMMAND_KEY_TAG = "command_key"
RESUMES_TAG = "resumes_run_id"
#: Tag of a run an exception ended.
ERROR_TAG = "error"
ERROR_NODE_TAG = "error.node"

MAX_TAG_LENGTH = 5000


class RunInterrupted(SystemExit):
    """Raised by the signal handler: exits with status 128 + the signal's number."""

    def __init__(self, interruption: Interruption) -> None:
        super().__init__(128 + interruption.signum)
        self.interruption = interruption


@dataclass(frozen=True)
class Interruption:
    signum: int
    node: str | None
    epoch: int | None
    at: str

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    def tags(self) -> dict[str, str]:
        tags = {SIGNAL_TAG: self.signal_name, CAUSE_TAG: f"{self.signal_name} received"}
        if self.node:
            tags[NODE_TAG] = self.node
        if self.epoch is not None:
            tags[EPOCH_TAG] = str(self.epoch)
        if self.at:
            tags[AT_TAG] = self.at[:MAX_TAG_LENGTH]
        return tags

    def describe(self) -> str:
        where = ", ".join(part for part in (self.node and f"node {self.node}", self.at) if part)
        return f"{self.signal_name}" + (f" during {where}" if where else "")


@dataclass
class _State:
    node: str | None = None
    interruption: Interruption | None = None
    previous: dict[int, Any] = field(default_factory=dict)
    exit_handler: bool = False


_state = _State()


def set_node(name: str | None) -> None:
    """The node running now (None between nodes), for the tags of an interruption."""
    _state.node = name


def current_node() -> str | None:
    return _state.node


def interruption() -> Interruption | None:
    """The interruption this process is stopping for, if any."""
    return _state.interruption


def install() -> bool:
    """Handle SIGINT and SIGTERM as described above (main thread only); True if installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if _state.interruption is not None:  # a run of this process was interrupted before
        close_interrupted_runs()
        _state.interruption = None
    for signum in SIGNALS:
        previous = signal.signal(signum, _on_signal)
        if previous is not _on_signal and previous is not _on_second_signal:
            _state.previous[signum] = previous
    if not _state.exit_handler:
        # registered after MLflow's (imported above), so it runs before MLflow's FINISHED
        atexit.register(close_interrupted_runs)
        _state.exit_handler = True
    return True


def uninstall() -> None:
    """Give SIGINT and SIGTERM back to the handlers they had before ``install``."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in _state.previous.items():
        signal.signal(signum, previous)
    _state.previous.clear()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    stop = Interruption(signum, _state.node, progress.epoch(), progress.where())
    _state.interruption = stop
    for each in SIGNALS:  # a second signal while the runs are being closed: exit at once
        signal.signal(each, _on_second_signal)
    logger.warning(
        "%s: stopping; the open MLflow runs end KILLED and the checkpoints stay "
        "(run the same command again to resume; a second signal exits at once)",
        stop.describe(),
    )
    raise RunInterrupted(stop)


def _on_second_signal(signum: int, frame: FrameType | None) -> None:
    logger.warning("%s again: exiting now", signal.Signals(signum).name)
    os._exit(128 + signum)


def end_active_run(stop: Interruption | None, error: BaseException | None) -> None:
    """End the active run: KILLED with ``stop``'s tags, else FAILED with ``error``'s message,
    else FINISHED."""
    if stop is not None:
        mlflow.set_tags(stop.tags())
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
    elif error is not None:
        mlflow.set_tags(error_tags(error))
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
    else:
        mlflow.end_run()


def error_tags(error: BaseException, node: str | None = None) -> dict[str, str]:
    message = f"{type(error).__name__}: {error}"
    tags = {ERROR_TAG: message[:MAX_TAG_LENGTH]}
    if node or _state.node:
        tags[ERROR_NODE_TAG] = node or _state.node or ""
    return tags


def close_interrupted_runs() -> None:
    """After an interruption: end every run still open in this thread KILLED (innermost
    first), and give the signals back. A no-op when nothing was interrupted."""
    stop = _state.interruption
    if stop is None:
        return
    try:
        while (run := mlflow.active_run()) is not None:
            logger.info("MLflow run %s (%s) ends KILLED", run.info.run_id, run.info.run_name)
            end_active_run(stop, None)
    except Exception:  # at exit, after a signal: report, never hang or mask the exit status
        logger.exception("could not mark the interrupted MLflow runs KILLED")
    finally:
        progress.abandon()
        uninstall()


# -- the process behind a run -------------------------------------------------------------


def process_tags() -> dict[str, str]:
    """Host, PID and the PID's start time of this process: what ``mark_orphaned_runs`` checks."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    started = _process_start(os.getpid())
    if started is not None:
        tags[PID_START_TAG] = started
    return tags


def _process_start(pid: int) -> str | None:
    """``<boot id>/<start time in clock ticks>`` of a process (Linux), None where unknown: a
    PID reused by another process, or one from before a reboot, does not match it."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    return f"{boot}/{fields[19]}"  # field 22 of proc(5), counted from the state (field 3)


def process_alive(tags: Mapping[str, str]) -> bool | None:
    """Whether the process named by a run's tags is still running on this host: True or
    False when that can be told exactly, None when it cannot (another host, no PID tag)."""
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return None
    pid = int(tags[PID_TAG])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to another user
        pass
    recorded = tags.get(PID_START_TAG)
    if recorded is None:
        return True  # alive as far as can be told: never touch it
    started = _process_start(pid)
    if started is None:
        # no /proc entry: gone, unless this system has no /proc at all (then unknown: alive)
        return not Path("/proc/self/stat").exists()
    return started == recorded


def mark_orphaned_runs(
    client: MlflowClient, experiment_ids: Iterable[str] | None = None, found_by: str | None = None
) -> list[str]:
    """End KILLED every RUNNING run of this host whose process no longer exists; the ids."""
    if experiment_ids is None:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    host = socket.gethostname().replace("'", "")
    runs = client.search_runs(
        list(experiment_ids),
        filter_string=f"attributes.status = 'RUNNING' and tags.{HOST_TAG} = '{host}'",
        max_results=5000,
    )
    orphans = []
    for run in runs:
        if process_alive(run.data.tags) is not False:
            continue
        tags = {
            SIGNAL_TAG: "unknown",
            CAUSE_TAG: f"process {run.data.tags[PID_TAG]} on {host} ended without closing the "
            "run (SIGKILL, out of memory, power loss or a second Ctrl-C)",
        }
        if found_by:
            tags[DETECTED_BY_TAG] = found_by
        for key, value in tags.items():
            client.set_tag(run.info.run_id, key, value)
        client.set_terminated(
            run.info.run_id, RunStatus.to_string(RunStatus.KILLED), end_time=_last_activity(run)
        )
        orphans.append(run.info.run_id)
        logger.warning(
            "MLflow run %s (%s) was left RUNNING by process %s, which no longer exists: "
            "marked KILLED",
            run.info.run_id,
            run.info.run_name,
            run.data.tags[PID_TAG],
        )
    return orphans


def _last_activity(run: Any) -> int:
    """When an orphaned run last logged a metric (its start when it logged none), in ms."""
    timestamps = [metric.timestamp for metric in getattr(run.data, "_metric_objs", [])]
    return max([run.info.start_time or 0, *timestamps]) or int(time.time() * 1000)


# -- resuming ------------------------------------------------------------------------------

#: What makes two ``kedro run`` invocations the same command (Kedro's run parameters).
COMMAND_FIELDS = (
    "project_path", "env", "pipeline_names", "tags", "namespaces", "node_names", "from_nodes",
    "to_nodes", "from_inputs", "to_outputs", "load_versions", "runtime_params",
)  # fmt: skip


def command_key(run_params: Mapping[str, Any]) -> str:
    """A short key of a ``kedro run``'s command (pipelines, environment, ``--params``...)."""
    return fingerprint({name: run_params.get(name) for name in COMMAND_FIELDS})


def link_resumed_run(client: MlflowClient, run: Any, key: str) -> str | None:
    """Tag the pipeline run ``run`` (its info) with the id of the last top-level run of the
    same command when that one did not finish (KILLED or FAILED): the run it resumes."""
    previous = client.search_runs(
        [run.experiment_id],
        filter_string=f"tags.{COMMAND_KEY_TAG} = '{key}'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
    )
    earlier = [
        other
        for other in previous
        if other.info.run_id != run.run_id
        and "mlflow.parentRunId" not in other.data.tags
        and other.info.start_time <= run.start_time
    ]
    if not earlier or earlier[0].info.status not in {"KILLED", "FAILED"}:
        return None
    resumed = earlier[0].info.run_id
    client.set_tag(run.run_id, RESUMES_TAG, resumed)
    logger.info(
        "this run resumes MLflow run %s (%s, %s)",
        resumed,
        earlier[0].info.run_name,
        earlier[0].info.status,
    )
    return resumed


def checkpoint_lineage() -> dict[str, Any]:
    """What a search checkpoint records of the run writing it (``resumed_tags`` reads it)."""
    run = mlflow.active_run()
    return {"mlflow_run_id": run.info.run_id} if run is not None else {}


def resumed_tags(state: Mapping[str, Any], epoch: int) -> dict[str, str]:
    """Tags of a search run that resumed from a checkpoint written after ``epoch`` (0-based)."""
    tags = {"resumed_after_epoch": str(epoch + 1)}
    if state.get("mlflow_run_id"):
        tags[RESUMES_TAG] = str(state["mlflow_run_id"])
    return tags

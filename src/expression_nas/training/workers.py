"""Independent trainings side by side: worker processes, one CPU core and one torch thread each.

The demo's derived networks are too small for torch's intra-op threads to pay well: on 2 cores
one thread gives 69-83 % of two threads' speed, so two trainings at once (the folds of a LOSO
evaluation, the pairs of a cross-database one) get through about 1.4x as many. ``TrainingPool``
runs module-level jobs ``job(shared, task)`` in workers forked from multiprocessing's fork
server (not from this process: its torch thread pool and MLflow client are not fork-safe). The
server imports the project once, so a pool after the first starts in a fraction of a second
instead of the ~5 s of importing torch and the project again. The workers receive the
read-only ``shared`` values once, a memory-mapped array by its file so that every worker pages
in the same copy. Results come back in task order; MLflow logging stays in the parent. With
one worker the jobs run in this process, unchanged.

Interruptions: the workers ignore SIGINT, so a Ctrl-C reaches the parent alone
(``interruptions`` ends its runs), and a pool left by an exception is terminated at once.

The fork server imports the parent's main module, as every spawn-based pool does: a script that
runs these trainings (``kedro run``, pytest and notebooks already do) keeps its work under
``if __name__ == "__main__":``, or sets the workers to 1.
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from expression_nas import distributed
from expression_nas.progress import MODE_VARIABLE

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: The shared values of this worker process (set once by ``_install``).
_shared: dict[str, Any] = {}


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, e.g. under a scheduler)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(setting: int | Literal["auto"], tasks: int, device: torch.device) -> int:
    """How many workers run ``tasks`` trainings: ``auto`` gives one per usable core (at most
    one per task) on the CPU, and 1 on a GPU or under torchrun, where one process already
    uses the device (or its rank) whole; an integer is taken as it is, capped at ``tasks``."""
    if tasks < 1:
        return 1
    if setting == "auto":
        if device.type != "cpu" or distributed.active():
            return 1
        return max(1, min(tasks, usable_cores()))
    if distributed.active() and setting > 1:
        raise ValueError("training workers > 1 cannot run under torchrun: set workers to 1")
    return max(1, min(tasks, int(setting)))


def _portable(value: Any) -> Any:
    """A memory-mapped array as the recipe to map it again; anything else as it is."""
    whole_file_map = isinstance(value, np.memmap) and isinstance(value.base, mmap.mmap)
    if whole_file_map and value.filename is not None and value.flags.c_contiguous:
        return ("memmap", value.filename, value.dtype.str, value.shape, value.offset)
    return value  # an array, or a slice of a map (its offset would not say where it starts)


def _restored(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 5 and value[0] == "memmap":
        _, filename, dtype, shape, offset = value
        return np.memmap(filename, dtype=np.dtype(dtype), mode="r", shape=shape, offset=offset)
    return value


def _install(shared: Mapping[str, Any], threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ[MODE_VARIABLE] = "off"  # one progress display: the parent's
    torch.set_num_threads(threads)
    _shared.clear()
    _shared.update({key: _restored(value) for key, value in shared.items()})


def _run(item: tuple[Callable[[Mapping[str, Any], Any], Any], Any]) -> Any:
    job, task = item
    return job(_shared, task)


class TrainingPool:
    """``with TrainingPool(workers, {"clips": clips, ...}) as pool: pool.map(job, tasks)``.

    ``job`` must be a module-level function (or a ``functools.partial`` of one) taking the
    shared mapping and one task; it and the tasks are pickled, so they must not hold the
    shared arrays themselves. Each worker gets ``threads`` torch threads (default: the usable
    cores divided among the workers, at least one). ``preload``: the modules of the jobs, for
    the fork server to import once (when it starts, with the first pool of the process).
    """

    def __init__(
        self,
        workers: int,
        shared: Mapping[str, Any],
        threads: int | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.shared = dict(shared)
        self.threads = threads or max(1, usable_cores() // workers)
        self.preload = ["__main__", __name__, *preload]
        self._pool: Any = None

    def __enter__(self) -> TrainingPool:
        if self.workers > 1:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(self.preload)  # read when the server first starts
            portable = {key: _portable(value) for key, value in self.shared.items()}
            self._pool = context.Pool(
                self.workers, initializer=_install, initargs=(portable, self.threads)
            )
            logger.info("%d training workers, %d torch thread(s) each", self.workers, self.threads)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if self._pool is None:
            return
        if exc_type is None:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()
        self._pool = None

    def map(self, job: Callable[[Mapping[str, Any], T], R], tasks: Sequence[T]) -> Iterator[R]:
        """``job(shared, task)`` for every task; the results in task order, each as soon as
        it and those before it are done."""
        if self._pool is None:
            for task in tasks:
                yield job(self.shared, task)
            return
        yield from self._pool.imap(_run, [(job, task) for task in tasks], chunksize=1)

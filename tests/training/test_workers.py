import os
import signal
import time
from functools import partial

import numpy as np
import pytest
import torch

from expression_nas import distributed
from expression_nas.training import workers
from expression_nas.training.workers import TrainingPool, worker_count


def _row_sum_and_kind(shared, row, scale):
    clips = shared["clips"]
    return float(clips[row].sum()) * scale, type(clips).__name__, torch.get_num_threads()


def _fails_on_two(shared, task):
    if task == 2:
        raise ValueError(f"task {task} is bad")
    return task


def _process_id(shared, task):
    return os.getpid()


def _interrupted_then_slow(shared, task):
    """A Ctrl-C reaches the worker too (the terminal signals the whole group): it goes on."""
    os.kill(os.getpid(), signal.SIGINT)
    if task > 1:
        time.sleep(60)
    return os.getpid()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def mapped_clips(tmp_path):
    clips = np.arange(4 * 3 * 2, dtype=np.uint8).reshape(4, 3, 2)
    np.save(tmp_path / "clips.npy", clips)
    return clips, np.load(tmp_path / "clips.npy", mmap_mode="r")


def test_workers_return_in_order_what_this_process_computes(mapped_clips):
    clips, mapped = mapped_clips
    job = partial(_row_sum_and_kind, scale=2.0)
    with TrainingPool(1, {"clips": mapped}) as here:
        expected = list(here.map(job, [3, 0, 2, 1]))
    with TrainingPool(2, {"clips": mapped}, threads=1) as pool:
        results = list(pool.map(job, [3, 0, 2, 1]))
    assert [r[0] for r in results] == [r[0] for r in expected]
    assert [r[0] for r in results] == [2.0 * clips[row].sum() for row in (3, 0, 2, 1)]
    # the map reached the workers as a map of the file, each on one torch thread
    assert {r[1] for r in results} == {"memmap"} and {r[2] for r in results} == {1}


def test_a_slice_of_a_map_and_a_plain_array_arrive_whole(mapped_clips):
    clips, mapped = mapped_clips
    for shared in (mapped[1:], clips[1:].copy()):
        with TrainingPool(2, {"clips": shared}, threads=1) as pool:
            sums = [r[0] for r in pool.map(partial(_row_sum_and_kind, scale=1.0), [0, 2])]
        assert sums == [float(clips[1].sum()), float(clips[3].sum())]


def test_two_workers_share_the_tasks_and_a_failure_reaches_the_caller():
    with TrainingPool(2, {}, threads=1) as pool:
        assert os.getpid() not in set(pool.map(_process_id, range(4)))
    with pytest.raises(ValueError, match="task 2 is bad"), TrainingPool(2, {}, threads=1) as pool:
        list(pool.map(_fails_on_two, range(4)))


def test_worker_count(monkeypatch):
    monkeypatch.setattr(workers, "usable_cores", lambda: 4)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert worker_count("auto", 18, cpu) == 4
    assert worker_count("auto", 3, cpu) == 3  # never more workers than trainings
    assert worker_count("auto", 18, gpu) == 1  # one process uses the GPU whole
    assert worker_count(2, 18, gpu) == 2 and worker_count(8, 6, cpu) == 6
    assert worker_count(1, 18, cpu) == 1
    monkeypatch.setattr(distributed, "active", lambda: True)
    assert worker_count("auto", 18, cpu) == 1  # a rank trains data-parallel with the others
    with pytest.raises(ValueError, match="torchrun"):
        worker_count(2, 18, cpu)


def test_a_pool_needs_a_worker():
    with pytest.raises(ValueError, match="at least 1"):
        TrainingPool(0, {})


def test_workers_ignore_sigint_and_a_stop_in_the_caller_ends_them_at_once():
    pids = []
    with pytest.raises(KeyboardInterrupt), TrainingPool(2, {}, threads=1) as pool:
        for pid in pool.map(_interrupted_then_slow, range(4)):
            pids.append(pid)  # both workers survived their SIGINT
            if len(pids) == 2:
                raise KeyboardInterrupt  # as interruptions' handler raises in the caller
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, pids))  # terminated, not left to finish their minute

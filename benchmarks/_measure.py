"""What the search-step benchmarks share: peak memory, training throughput, one process per
measured case (so that peak memory is the case's own), and the JSON report."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence

import torch
from torch import nn


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> dict:
    """Peak memory so far: max allocated on CUDA, the process's max RSS on the CPU."""
    if device == "cuda":
        return {
            "search_peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20),
            "memory_measure": "torch.cuda.max_memory_allocated",
        }
    return {
        "search_peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "memory_measure": "process max RSS",
    }


def training_rate(
    network: nn.Module,
    input_shape: Sequence[int],
    n_classes: int,
    lr: float,
    steps: int,
    device: str,
) -> float:
    """Samples per second through forward + backward + SGD step at batch ``input_shape[0]``,
    the best of ``steps`` timed steps after one warm-up step."""
    network = network.to(device)
    optimizer = torch.optim.SGD(network.parameters(), lr=lr, momentum=0.9)
    inputs = torch.rand(*input_shape, device=device)
    targets = torch.randint(0, n_classes, (input_shape[0],), device=device)
    seconds = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(network(inputs), targets).backward()
        optimizer.step()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return round(input_shape[0] / min(seconds[1:]), 1)


def run_isolated(script: str, child_args: list[str], label: dict) -> dict:
    """Run ``script --child ...`` in a fresh process and return the JSON of its last output
    line; a child that fails (e.g. killed by the out-of-memory killer) is reported, not
    raised, so the other cases still run."""
    command = [sys.executable, script, "--child", *child_args]
    child = subprocess.run(command, capture_output=True, text=True, check=False)
    if child.returncode == 0:
        return json.loads(child.stdout.strip().splitlines()[-1])
    failure = "killed (out of memory?)" if child.returncode == -9 else child.stderr[-500:]
    return {**label, "failed": failure}


def print_report(results: list[dict], device: str) -> None:
    machine = {"cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    print(json.dumps({"machine": machine, "results": results}, indent=2))

"""What the search-step benchmarks share: peak memory, training throughput, one process per
measured case (so that peak memory is the case's own), constructions measured side by side in
alternating order, and the reports."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

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


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Job:
    """One measured case (``label``: the child's leading arguments, in order) and the
    constructions to measure it in ("reference" is the one the others are compared with)."""

    label: dict
    constructions: list[str]


def run_jobs(script: str, jobs: list[Job], repeats: int, common: list[str]) -> list[dict]:
    """Every job in every construction, each in its own process (``script --child *label
    construction *common``), ``repeats`` times; the constructions' order alternates between
    repeats, so that neither always runs first on a machine whose load drifts."""
    results = []
    for repeat in range(repeats):
        for job in jobs:
            order = job.constructions if repeat % 2 == 0 else job.constructions[::-1]
            for construction in order:
                label = {**job.label, "construction": construction, "repeat": repeat}
                child = [*map(str, job.label.values()), construction, *common]
                results.append({**label, **run_isolated(script, child, label)})
    return results


def _summary(runs: list[dict]) -> dict:
    failed = [run["failed"] for run in runs if "failed" in run]
    if failed:
        return {"failed": failed[0]}
    if "step_seconds" not in runs[0]:
        return {key: value for key, value in runs[0].items() if key.startswith("training")}
    return {
        "seconds": statistics.median(s for run in runs for s in run["step_seconds"]),
        "cpu_seconds": statistics.median(s for run in runs for s in run["step_cpu_seconds"]),
        "peak_mb": max(run["search_peak_memory_mb"] for run in runs),
    }


def print_side_by_side(results: list[dict], device: str) -> None:
    """One line per (case, kind, construction): median seconds and CPU seconds per step and
    peak memory, beside the reference construction's and as ratios to it; then the JSON."""
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for run in results:
        key = tuple(v for k, v in run.items() if k in ("case", "kind"))
        groups.setdefault(key, {}).setdefault(run["construction"], []).append(run)
    header = (
        f"{'case':<10}{'kind':<8}{'construction':<14}{'s/step':>9}{'cpu s':>9}{'peak MB':>9}"
        f" | {'ref s':>8}{'ref cpu':>9}{'ref MB':>8} | {'time':>6}{'cpu':>6}{'memory':>7}"
    )
    print(header)
    print("-" * len(header))
    for key, by_construction in groups.items():
        reference = _summary(by_construction["reference"]) if "reference" in by_construction else {}
        for construction, runs in by_construction.items():
            if construction == "reference" and len(by_construction) > 1:
                continue
            summary = _summary(runs)
            line = f"{key[0]:<10}{key[1]:<8}{construction:<14}"
            if "failed" in summary:
                print(line + f"failed: {summary['failed'][:60]}")
                continue
            if "seconds" not in summary:
                print(line + "  ".join(f"{k} {v}" for k, v in summary.items()))
                continue
            line += (
                f"{summary['seconds']:>9.2f}{summary['cpu_seconds']:>9.2f}{summary['peak_mb']:>9}"
            )
            if reference and "seconds" in reference and construction != "reference":
                line += (
                    f" | {reference['seconds']:>8.2f}{reference['cpu_seconds']:>9.2f}"
                    f"{reference['peak_mb']:>8} | "
                    f"{summary['seconds'] / reference['seconds']:>6.2f}"
                    f"{summary['cpu_seconds'] / reference['cpu_seconds']:>6.2f}"
                    f"{summary['peak_mb'] / reference['peak_mb']:>7.2f}"
                )
            elif "failed" in reference:
                line += f" | reference failed: {reference['failed'][:40]}"
            print(line)
    print()
    print_report(results, device)

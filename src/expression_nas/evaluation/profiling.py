"""Cost of a trained model: parameters, FLOPs, peak memory and inference latency.

All measurements are of one inference forward pass (eval mode, no autograd) on an input of
``input_shape`` (batch dimension included). Functions that take a ``device`` move the model
there for the measurement and put it back, in its former training/eval mode, afterwards.

Peak memory is the model's resident parameters and buffers plus the peak of what the forward
pass allocates on top (input, activations, workspaces), measured after one warm-up pass:
- CUDA: the caching allocator's own counters (``torch.cuda.max_memory_allocated`` after a
  reset, minus what was allocated before the pass).
- CPU: every allocation and free of the CPU allocator recorded by ``torch.profiler`` with
  ``profile_memory=True``; the peak of their running sum in time order. Chosen over
  ``tracemalloc`` (it does not see torch's allocator, only Python's) and over the process's
  maximum RSS (``resource``: monotone over the whole process, so it cannot isolate one pass).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

logger = logging.getLogger(__name__)

MIB = 2**20


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (only those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass on the model's current device, counted by torch's
    ``FlopCounterMode``: a multiply-add counts 2, and only matrix products and convolutions
    are counted (not biases, activations, pooling or normalisation)."""
    device = _model_device(model)
    with _inference(model), FlopCounterMode(display=False) as counter:
        model(torch.zeros(tuple(input_shape), device=device))
    return int(counter.get_total_flops())


def peak_memory_mb(
    model: nn.Module, input_shape: Sequence[int], device: str | torch.device = "cpu"
) -> float:
    """Peak memory (MiB) of one inference pass: resident weights + peak transient allocation
    (see the module docstring for how it is measured on CUDA and on CPU)."""
    device = torch.device(device)
    with _on_device(model, device), _inference(model):
        resident = sum(
            t.numel() * t.element_size()
            for t in itertools.chain(model.parameters(), model.buffers())
        )
        model(torch.zeros(tuple(input_shape), device=device))  # warm-up: lazy inits, caches
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            model(torch.zeros(tuple(input_shape), device=device))
            torch.cuda.synchronize(device)
            transient = torch.cuda.max_memory_allocated(device) - before
        elif device.type == "cpu":
            transient = _cpu_forward_peak_bytes(model, input_shape)
        else:
            raise ValueError(f"peak memory is measured on cpu or cuda, not {device.type}")
    return (resident + transient) / MIB


def inference_latency_ms(
    model: nn.Module,
    input_shape: Sequence[int],
    device: str | torch.device = "cpu",
    repeats: int = 10,
    warmup: int = 2,
) -> dict[str, float]:
    """Median and 90th percentile wall-clock time (ms) of one forward pass, after ``warmup``
    untimed passes; CUDA work is synchronised before each clock reading."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    device = torch.device(device)

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    with _on_device(model, device), _inference(model):
        inputs = torch.zeros(tuple(input_shape), device=device)
        for _ in range(warmup):
            model(inputs)
        for _ in range(repeats):
            synchronize()
            start = time.perf_counter()
            model(inputs)
            synchronize()
            times.append((time.perf_counter() - start) * 1000.0)
    return {"median": float(np.median(times)), "p90": float(np.percentile(times, 90))}


def profile_model(
    model: nn.Module,
    input_shape: Sequence[int],
    device: str | torch.device = "cpu",
    latency_repeats: int = 10,
) -> dict[str, float | int]:
    """All costs of ``model`` as one flat dict (ready for ``mlflow.log_metrics``); the latency
    over ``latency_repeats`` timed forward passes."""
    with _on_device(model, torch.device(device)):
        flops = count_flops(model, input_shape)
    latency = inference_latency_ms(model, input_shape, device, repeats=latency_repeats)
    costs = {
        "parameters": count_parameters(model),
        "flops": flops,
        "peak_memory_mb": peak_memory_mb(model, input_shape, device),
        "latency_ms_median": latency["median"],
        "latency_ms_p90": latency["p90"],
    }
    logger.info(
        "model cost on %s for input %s: %d parameters, %.3g FLOPs, %.1f MiB peak, %.2f ms",
        device,
        tuple(input_shape),
        costs["parameters"],
        flops,
        costs["peak_memory_mb"],
        latency["median"],
    )
    return costs


def _cpu_forward_peak_bytes(model: nn.Module, input_shape: Sequence[int]) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(torch.zeros(tuple(input_shape)))
    # Kineto's "[memory]" events are the allocator's allocations (+bytes) and frees (-bytes);
    # the parsed ``prof.events()`` folds most of them into the enclosing operator's net total,
    # which would hide buffers allocated and freed inside one operator.
    events = sorted(
        (
            event
            for event in prof.profiler.kineto_results.events()
            if event.name() == "[memory]" and event.device_type() == torch.autograd.DeviceType.CPU
        ),
        key=lambda event: event.start_ns(),
    )
    return max(itertools.accumulate(event.nbytes() for event in events), default=0)


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if tensor is None else tensor.device


@contextmanager
def _on_device(model: nn.Module, device: torch.device) -> Iterator[None]:
    original = _model_device(model)
    model.to(device)
    try:
        yield
    finally:
        model.to(original)


@contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)

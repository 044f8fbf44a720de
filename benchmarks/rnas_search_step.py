"""RNAS search-step time and peak memory, and final-training throughput.

    .venv/bin/python benchmarks/rnas_search_step.py [--cases demo composite] [--steps 2]
        [--device cpu|cuda]

Cases: ``demo`` is the demo's search space on its clips (16x80x80, batch 8, as in
conf/base/parameters_rnas_mer.yml); ``composite`` is seed 000's space on the real composite's
clips (120x80x80, batch 4, 6 layers, 5 nodes, as in conf/composite/). A search step is one
first-order architecture step on a validation batch plus one weight step on a training batch.
Each case runs in its own process so that peak memory (max RSS on CPU, max allocated on CUDA)
is its own. Final-training throughput is clips per second through forward + backward + SGD step
of the network derived from the untrained supernet, at the training batch size. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _measure import (
    peak_memory,
    print_report,
    reset_peak_memory,
    run_isolated,
    synchronize,
    training_rate,
)

from expression_nas.models.registry import build_model
from expression_nas.nas.bilevel import first_order_arch_step
from expression_nas.nas.rnas.search_space import RnasSearchConfig, RnasSupernet

CASES = {
    "demo": {
        "clip": (16, 80, 80),
        "search_batch": 8,
        "train_batch": 12,
        "space": {
            "layers": 4,
            "nodes": 3,
            "channels": 4,
            "levels": 2,
            "stem_stride": (2, 4, 4),
            "partial_channel_k": 2,
            "checkpoint_edges": False,
        },
    },
    "composite": {
        "clip": (120, 80, 80),
        "search_batch": 4,
        "train_batch": 12,
        "space": {
            "layers": 6,
            "nodes": 5,
            "channels": 8,
            "levels": 3,
            "stem_stride": (2, 2, 2),
            "partial_channel_k": 4,
            "checkpoint_edges": True,
        },
    },
}


def measure(case: str, steps: int, device: str) -> dict:
    settings = CASES[case]
    torch.manual_seed(0)
    model = RnasSupernet(RnasSearchConfig(num_classes=3, **settings["space"])).to(device)
    weights = torch.optim.SGD(model.weight_parameters(), lr=0.007, momentum=0.9)
    arch = torch.optim.Adam(model.arch_parameters(), lr=3e-4)
    batch = settings["search_batch"]
    inputs = torch.rand(batch, 1, *settings["clip"], device=device)
    targets = torch.randint(0, 3, (batch,), device=device)
    reset_peak_memory(device)
    seconds = []
    for _ in range(steps):
        started = time.perf_counter()
        first_order_arch_step(model, arch, (inputs, targets))
        weights.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        weights.step()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    memory = peak_memory(device)

    train_batch = settings["train_batch"]
    rate = training_rate(
        build_model(model.derive()), (train_batch, 1, *settings["clip"]), 3, 0.007, steps, device
    )
    return {
        "case": case,
        "device": device,
        "clip": list(settings["clip"]),
        "search_batch": batch,
        "search_space": {
            k: list(v) if isinstance(v, tuple) else v for k, v in settings["space"].items()
        },
        "search_step_seconds": [round(s, 2) for s in seconds],
        **memory,
        "training_batch": train_batch,
        "training_clips_per_second": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.device)))
        return
    results = [
        run_isolated(
            __file__, [case, "--steps", str(args.steps), "--device", args.device], {"case": case}
        )
        for case in args.cases
    ]
    print_report(results, args.device)


if __name__ == "__main__":
    main()

"""RNAS search-step time and peak memory, the supernet side by side with the straightforward
construction, and final-training throughput.

    .venv/bin/python benchmarks/rnas_search_step.py [--cases demo composite24 composite]
        [--kinds step train] [--reference | --new] [--steps 2] [--warmup 1] [--repeats 1]
        [--threads N] [--device cpu|cuda]

Cases: ``demo`` is the demo's search space on its clips (16x80x80, batch 8, as in
conf/base/parameters_rnas_mer.yml); ``composite`` is seed 000's space on the real composite's
clips (120x80x80, batch 4, 6 layers, 5 nodes, edge recomputation, as in conf/composite/);
``composite24`` is the same space on 24-frame clips, a fifth of the work, for a side-by-side
run that a shared 2-core machine can afford. ``step`` is one first-order architecture step on
a validation batch plus one weight step on a training batch; ``train`` is the final-training
throughput (clips per second through forward, backward and SGD) of the network derived from
the untrained supernet, at the training batch size, which does not depend on the
construction.

Every (case, kind, construction) runs in its own process, so that peak memory (max RSS on CPU,
max allocated on CUDA) is its own; the reference construction (``nas.rnas.mixed_op.
ReferenceMixedOp``, per-edge) runs beside the search's own unless ``--new`` (``--reference``:
the reference only). Time per step is the median of the timed steps (after ``--warmup``
untimed ones) over ``--repeats`` (which alternate the constructions' order), in wall-clock and
CPU seconds; on a loaded machine use ``--threads 1`` (see darts_search_step.py). Prints the
side-by-side table, then the JSON of every run.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _measure import (
    Job,
    cpu_seconds,
    peak_memory,
    print_side_by_side,
    reset_peak_memory,
    run_jobs,
    synchronize,
    training_rate,
)

from expression_nas.models.registry import build_model
from expression_nas.nas.bilevel import first_order_arch_step
from expression_nas.nas.rnas.search_space import RnasSearchConfig, RnasSupernet

SEED_SPACE = {
    "layers": 6,
    "nodes": 5,
    "channels": 8,
    "levels": 3,
    "stem_stride": (2, 2, 2),
    "partial_channel_k": 4,
    "checkpoint_edges": True,
}
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
    "composite24": {
        "clip": (24, 80, 80),
        "search_batch": 4,
        "train_batch": 12,
        "space": SEED_SPACE,
    },
    "composite": {"clip": (120, 80, 80), "search_batch": 4, "train_batch": 12, "space": SEED_SPACE},
}
KINDS = ("step", "train")


def measure(case: str, kind: str, construction: str, steps: int, warmup: int, device: str):
    settings = CASES[case]
    torch.manual_seed(0)
    config = RnasSearchConfig(
        num_classes=3, reference=construction == "reference", **settings["space"]
    )
    model = RnasSupernet(config).to(device)
    if kind == "train":
        batch = settings["train_batch"]
        shape = (batch, 1, *settings["clip"])
        rate = training_rate(build_model(model.derive()), shape, 3, 0.007, steps, device)
        return {"training_batch": batch, "training_clips_per_second": rate}
    weights = torch.optim.SGD(model.weight_parameters(), lr=0.007, momentum=0.9)
    arch = torch.optim.Adam(model.arch_parameters(), lr=3e-4)
    batch = settings["search_batch"]
    inputs = torch.rand(batch, 1, *settings["clip"], device=device)
    targets = torch.randint(0, 3, (batch,), device=device)
    reset_peak_memory(device)
    seconds, cpu = [], []
    for index in range(warmup + steps):
        started, started_cpu = time.perf_counter(), cpu_seconds()
        first_order_arch_step(model, arch, (inputs, targets))
        weights.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        weights.step()
        synchronize(device)
        if index >= warmup:
            seconds.append(round(time.perf_counter() - started, 2))
            cpu.append(round(cpu_seconds() - started_cpu, 2))
    return {
        "clip": list(settings["clip"]),
        "search_batch": batch,
        "search_space": {
            k: list(v) if isinstance(v, tuple) else v for k, v in settings["space"].items()
        },
        "step_seconds": seconds,
        "step_cpu_seconds": cpu,
        **peak_memory(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["demo"], choices=list(CASES))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--reference", action="store_true", help="the reference construction only")
    which.add_argument("--new", action="store_true", help="without the reference construction")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        case, kind, construction = args.child
        print(json.dumps(measure(case, kind, construction, args.steps, args.warmup, args.device)))
        return
    constructions = ([] if args.reference else ["new"]) + ([] if args.new else ["reference"])
    jobs = [
        Job({"case": case, "kind": kind}, ["-"] if kind == "train" else constructions)
        for case in args.cases
        for kind in args.kinds
    ]
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
    if args.threads:
        common += ["--threads", str(args.threads)]
    print_side_by_side(run_jobs(__file__, jobs, args.repeats, common), args.device)


if __name__ == "__main__":
    main()

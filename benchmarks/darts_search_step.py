"""DARTS / DARTS-STN search-step time and peak memory, the supernet side by side with the
straightforward construction (quark0/darts), and final-training throughput.

    .venv/bin/python benchmarks/darts_search_step.py [--cases demo darts32 darts stn64]
        [--kinds weight first second stn train] [--memory lean fast] [--reference | --new]
        [--steps 2] [--warmup 1] [--repeats 1] [--threads N] [--device cpu|cuda]

Cases (48x48 grayscale images, 7 classes, 4 nodes): ``demo`` is the demo's search network
(3 cells of 4 channels, batch 16; final network 5 cells of 8 channels, batch 16, as in
conf/base/parameters_darts_fer.yml); ``darts32`` is DARTS' search network (8 cells of 16
channels) at batch 32, the configuration of issue 12's targets; ``darts`` is DARTS' FER
setting (batch 64; final network 20 cells of 36 channels, batch 96, conf/fer/); ``stn64`` is
``darts`` for the DARTS-STN step only.

Kinds: ``weight`` is the search loop's weight step (forward, backward, gradient clipping, SGD);
``first`` and ``second`` are DARTS' first- and second-order architecture steps (the latter with
the finite-difference Hessian-vector product); ``stn`` is one DARTS-STN round (a weight step at
perturbed hyper-parameters and a hyper-parameter step, ``t_train = 1``); ``train`` is the
final-training throughput (images per second through forward, backward and SGD) of the network
derived from the untrained supernet, which does not depend on the construction.

Constructions: the supernet as the search builds it (``search_space.memory``: ``lean``
recomputes each mixed edge in the backward pass, ``fast`` keeps its activations; ``--memory``
picks which are measured) and, unless ``--new``, the reference construction beside it
(``--reference`` measures the reference only). Every (case, kind, construction) runs in its own
process, so that peak memory (max RSS on CPU, max allocated on CUDA) is its own; with
``--repeats`` > 1 the order of the constructions alternates between repeats. Time per step is
the median over repeats of the timed steps (after ``--warmup`` untimed ones) in wall-clock
seconds; CPU seconds (user + system, all threads) are reported too, since they vary less on a
shared machine. On a loaded machine, use ``--threads 1``: two OpenMP threads that compete with
other processes for two cores spin in their barriers and make every step several times slower
(and noisier). Prints the side-by-side table, then the JSON of every run.
"""

from __future__ import annotations

import argparse
import itertools
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

from expression_nas.experiments.darts_fer import final_spec
from expression_nas.models.registry import build_model
from expression_nas.nas.darts.search_space import MEMORY_MODES, DartsSearchConfig, DartsSupernet
from expression_nas.nas.search_loop import SearchSettings, UnrolledStrategy
from expression_nas.nas.stn_search import StnSettings, StnStrategy
from expression_nas.parameters.darts_fer import FinalNetworkParams

CASES = {
    "demo": {"search": (4, 3), "search_batch": 16, "final": (8, 5), "train_batch": 16},
    "darts32": {"search": (16, 8), "search_batch": 32, "final": (36, 20), "train_batch": 96},
    "darts": {"search": (16, 8), "search_batch": 64, "final": (36, 20), "train_batch": 96},
    "stn64": {"search": (16, 8), "search_batch": 64, "kinds": ("stn",)},
}
KINDS = ("weight", "first", "second", "stn", "train")
LR, GRAD_CLIP = 0.025, 5.0


def _supernet(case: str, kind: str, construction: str, device: str) -> DartsSupernet:
    channels, layers = CASES[case]["search"]
    stn = kind == "stn"
    memory = {"reference": {"reference": True}}.get(construction, {"memory": construction})
    torch.manual_seed(0)
    config = DartsSearchConfig(
        channels=channels, layers=layers, stn=stn, tune_dropout=stn, **memory
    )
    return DartsSupernet(config).to(device)


def _search_step(case: str, kind: str, construction: str, device: str):
    """The model and a function that runs one step of ``kind`` on it."""
    model = _supernet(case, kind, construction, device)
    batch_size = CASES[case]["search_batch"]
    batch = (
        torch.rand(batch_size, 1, 48, 48, device=device),
        torch.randint(0, 7, (batch_size,), device=device),
    )
    val_batches = itertools.repeat(batch)
    weights = torch.optim.SGD(model.weight_parameters(), lr=LR, momentum=0.9)
    if kind == "stn":
        outer = StnStrategy(model, StnSettings(t_train=1), 3e-4, 1e-3)
    else:
        outer = UnrolledStrategy(model, SearchSettings(order=kind if kind != "weight" else "first"))

    def weight_step() -> None:  # as nas.search_loop does it
        weights.zero_grad(set_to_none=True)
        inputs, targets = batch
        torch.nn.functional.cross_entropy(outer.weight_logits(model, inputs), targets).backward()
        for parameter in model.arch_parameters():
            parameter.grad = None
        torch.nn.utils.clip_grad_norm_(model.weight_parameters(), GRAD_CLIP)
        weights.step()

    def step() -> None:
        if kind in ("weight", "stn"):
            weight_step()
        if kind != "weight":
            outer.arch_step(model, batch, val_batches, LR)

    return model, step


def measure(case: str, kind: str, construction: str, steps: int, warmup: int, device: str):
    settings = CASES[case]
    if kind == "train":
        model = _supernet(case, "weight", "lean", device)
        final_channels, final_layers = settings["final"]
        final = FinalNetworkParams(channels=final_channels, layers=final_layers)
        spec = final_spec(model.derive(), final, 7, 1)
        network = build_model(spec)
        batch = settings["train_batch"]
        rate = training_rate(network, (batch, 1, 48, 48), 7, LR, steps, device)
        return {
            "final_network": {"channels": final_channels, "layers": final_layers, "batch": batch},
            "final_parameters": sum(p.numel() for p in network.parameters()),
            "training_images_per_second": rate,
        }
    _, step = _search_step(case, kind, construction, device)
    reset_peak_memory(device)
    seconds, cpu = [], []
    for index in range(warmup + steps):
        started, started_cpu = time.perf_counter(), cpu_seconds()
        step()
        synchronize(device)
        if index >= warmup:
            seconds.append(round(time.perf_counter() - started, 2))
            cpu.append(round(cpu_seconds() - started_cpu, 2))
    channels, layers = settings["search"]
    return {
        "search_network": {"channels": channels, "layers": layers},
        "batch": settings["search_batch"],
        "step_seconds": seconds,
        "step_cpu_seconds": cpu,
        **peak_memory(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["demo"], choices=list(CASES))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--memory", nargs="+", default=list(MEMORY_MODES), choices=MEMORY_MODES)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--reference", action="store_true", help="the reference construction only")
    which.add_argument("--new", action="store_true", help="without the reference construction")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: torch's); 1 on a shared machine"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        case, kind, construction = args.child
        result = measure(case, kind, construction, args.steps, args.warmup, args.device)
        print(json.dumps(result))
        return
    constructions = ([] if args.reference else list(args.memory)) + (
        [] if args.new else ["reference"]
    )
    jobs = []
    for case in args.cases:
        for kind in CASES[case].get("kinds", args.kinds):
            if kind not in args.kinds:
                continue
            kind_constructions = ["-"] if kind == "train" else constructions
            jobs.append(Job({"case": case, "kind": kind}, kind_constructions))
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
    if args.threads:
        common += ["--threads", str(args.threads)]
    results = run_jobs(__file__, jobs, args.repeats, common)
    print_side_by_side(results, args.device)


if __name__ == "__main__":
    main()

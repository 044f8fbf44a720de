"""DARTS / DARTS-STN search-step time and peak memory, and final-training throughput.

    .venv/bin/python benchmarks/darts_search_step.py [--cases demo darts] [--strategies first
        second stn] [--steps 2] [--device cpu|cuda]

Cases: ``demo`` is the demo's search network (3 cells of 4 channels, batch 16) and final
network (5 cells of 8 channels, batch 16), as in conf/base/parameters_darts_fer.yml; ``darts``
is DARTS' (8 cells of 16 channels, batch 64; final 20 cells of 36 channels, batch 96), as in
conf/fer/. Images are 48x48 grayscale, 7 classes. A search step is what the search loop does
per training batch: an architecture step on a validation batch (first order, second order with
the finite-difference Hessian-vector product, or one STN hyper-parameter step) plus one weight
step (STN: at perturbed hyper-parameters). Each (case, strategy) runs in its own process so that
peak memory (max RSS on CPU, max allocated on CUDA) is its own. Final-training throughput is
images per second through forward + backward + SGD step of the network derived from the
untrained search network. Prints JSON.
"""

from __future__ import annotations

import argparse
import itertools
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

from expression_nas.experiments.darts_fer import final_spec
from expression_nas.models.registry import build_model
from expression_nas.nas.darts.search_space import DartsSearchConfig, DartsSupernet
from expression_nas.nas.search_loop import SearchSettings, UnrolledStrategy
from expression_nas.nas.stn_search import StnSettings, StnStrategy

CASES = {
    "demo": {"search": (4, 3), "search_batch": 16, "final": (8, 5), "train_batch": 16},
    "darts": {"search": (16, 8), "search_batch": 64, "final": (36, 20), "train_batch": 96},
}
STRATEGIES = ("first", "second", "stn")


def measure(case: str, strategy: str, steps: int, device: str) -> dict:
    settings = CASES[case]
    channels, layers = settings["search"]
    torch.manual_seed(0)
    stn = strategy == "stn"
    config = DartsSearchConfig(channels=channels, layers=layers, stn=stn, tune_dropout=stn)
    model = DartsSupernet(config).to(device)
    search = SearchSettings(order="second" if strategy == "second" else "first")
    outer = (
        StnStrategy(model, StnSettings(t_train=1), search.arch_lr, search.arch_weight_decay)
        if stn
        else UnrolledStrategy(model, search)
    )
    weights = torch.optim.SGD(model.weight_parameters(), lr=0.025, momentum=0.9)
    batch = settings["search_batch"]
    inputs = torch.rand(batch, 1, 48, 48, device=device)
    targets = torch.randint(0, 7, (batch,), device=device)
    reset_peak_memory(device)
    seconds = []
    for _ in range(steps):
        started = time.perf_counter()
        weights.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(outer.weight_logits(model, inputs), targets).backward()
        weights.step()
        outer.arch_step(model, (inputs, targets), itertools.repeat((inputs, targets)), 0.025)
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    memory = peak_memory(device)

    final_channels, final_layers = settings["final"]
    spec = final_spec(model.derive(), {"channels": final_channels, "layers": final_layers}, 7, 1)
    network = build_model(spec)
    train_batch = settings["train_batch"]
    rate = training_rate(network, (train_batch, 1, 48, 48), 7, 0.025, steps, device)
    return {
        "case": case,
        "strategy": strategy,
        "device": device,
        "search_network": {"channels": channels, "layers": layers, "batch": batch},
        "search_step_seconds": [round(s, 2) for s in seconds],
        **memory,
        "final_network": {"channels": final_channels, "layers": final_layers},
        "final_parameters": sum(p.numel() for p in network.parameters()),
        "training_batch": train_batch,
        "training_images_per_second": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.device)))
        return
    results = [
        run_isolated(
            __file__,
            [case, strategy, "--steps", str(args.steps), "--device", args.device],
            {"case": case, "strategy": strategy},
        )
        for case, strategy in itertools.product(args.cases, args.strategies)
    ]
    print_report(results, args.device)


if __name__ == "__main__":
    main()

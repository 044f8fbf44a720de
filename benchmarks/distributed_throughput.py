"""Samples per second of a DARTS search epoch and of a fixed-epoch training epoch at world size
1 and 2 under torchrun (gloo on the CPU, NCCL on CUDA).

    .venv/bin/python benchmarks/distributed_throughput.py [--worlds 1 2] [--threads 1]
        [--images 64] [--batch 16]

Each world size runs in its own ``torchrun --standalone --nproc_per_node=N`` with ``--threads``
torch threads per rank. The search is the demo's DARTS first-order search network (3 cells of
4 channels, 48x48 grayscale, 7 classes), the training the network derived from it (5 cells of 8
channels), both with ``--batch`` images per rank on ``--images`` training images (the global
batch is N times it). Two epochs each; the figure is the second (warm) epoch's training
images per second, measured on rank 0 (the search epoch includes its validation pass over 16
images). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
from torch.utils.data import TensorDataset

from expression_nas import distributed
from expression_nas.experiments.darts_fer import final_spec
from expression_nas.models.registry import build_model
from expression_nas.nas.darts.search_space import DartsSearchConfig, DartsSupernet
from expression_nas.nas.search_loop import SearchSettings, run_search
from expression_nas.parameters.darts_fer import FinalNetworkParams
from expression_nas.training.data import make_loader
from expression_nas.training.loop import OptimizerConfig, train_fixed_epochs

SIZE, CLASSES = 48, 7


def _images(n: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, SIZE, SIZE, generator=generator)
    return TensorDataset(x, torch.randint(0, CLASSES, (n,), generator=generator))


def worker(images: int, batch: int) -> dict:
    distributed.init()
    torch.manual_seed(0)
    config = DartsSearchConfig(channels=4, layers=3, nodes=4, input_size=(SIZE, SIZE))
    model = DartsSupernet(config)
    train = make_loader(_images(images, 1), batch, shuffle=True, seed=1)
    val = make_loader(_images(16, 2), batch, shuffle=True, seed=2)
    result = run_search(model, train, val, SearchSettings(epochs=2, batch_size=batch))
    search_seconds = result.history[1]["seconds"] - result.history[0]["seconds"]

    network = FinalNetworkParams(channels=8, layers=5)
    spec = final_spec(result.spec, network, CLASSES, 1)
    trained = build_model(spec)
    seconds = []
    started = time.perf_counter()

    def lap(epoch: int, record: dict) -> None:
        seconds.append(time.perf_counter() - started)

    train_fixed_epochs(
        trained, train, OptimizerConfig(epochs=2, batch_size=batch), on_epoch_end=lap
    )
    report = {
        "world_size": distributed.world_size(),
        "threads_per_rank": torch.get_num_threads(),
        "batch_per_rank": batch,
        "images": images,
        "search_images_per_second": round(images / search_seconds, 2),
        "training_images_per_second": round(images / (seconds[1] - seconds[0]), 2),
    }
    distributed.shutdown()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        torch.set_num_threads(args.threads)
        report = worker(args.images, args.batch)
        if int(os.environ.get("RANK", "0")) == 0:
            print("REPORT " + json.dumps(report), flush=True)
        return
    reports = []
    for world in args.worlds:
        command = [
            *(sys.executable, "-m", "torch.distributed.run", "--standalone"),
            f"--nproc_per_node={world}",
            __file__,
            "--worker",
            *("--threads", str(args.threads), "--images", str(args.images)),
            *("--batch", str(args.batch)),
        ]
        environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        environment.setdefault("EXPRESSION_NAS_PROGRESS", "off")
        done = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
        reports.append(json.loads(lines[-1].removeprefix("REPORT ")))
    print(json.dumps({"device": "cuda" if torch.cuda.is_available() else "cpu", "runs": reports}))


if __name__ == "__main__":
    main()

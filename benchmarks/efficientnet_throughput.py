"""EfficientNetV2-S at 48x48x1: training and inference throughput of the scaled-down and full
networks, measured in one run so that their ratio holds on a shared machine.

    .venv/bin/python benchmarks/efficientnet_throughput.py [--threads 1] [--steps 3]

Cases: the scaled-down network (stages 1-4) at width and depth 0.5 and at 1.0, and the full
V2-S at 0.5 and at 1.0 (numTopFilters 1280, torchvision's head; 7 classes). Training is
forward + backward + SGD step at batch 32 (the best of ``steps`` timed steps); inference is a
batch of 256 in eval mode. Prints JSON with images per second and parameters.
"""

from __future__ import annotations

import argparse
import time

import torch
from _measure import print_report, training_rate

from expression_nas.evaluation.profiling import count_parameters
from expression_nas.models.efficientnet_net import efficientnet_spec
from expression_nas.models.registry import build_model

CASES = (
    ("scaled_down", 0.5),
    ("scaled_down", 1.0),
    ("full", 0.5),
    ("full", 1.0),
)


def inference_rate(network: torch.nn.Module, batch: int, steps: int) -> float:
    inputs = torch.rand(batch, 1, 48, 48)
    network.eval()
    seconds = []
    with torch.no_grad():
        for _ in range(steps + 1):
            started = time.perf_counter()
            network(inputs)
            seconds.append(time.perf_counter() - started)
    return round(batch / min(seconds[1:]), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for variant, coefficient in CASES:
        spec = efficientnet_spec(
            1,
            7,
            variant=variant,
            width_coefficient=coefficient,
            depth_coefficient=coefficient,
            top_filters=1280,
        )
        network = build_model(spec)
        results.append(
            {
                "variant": variant,
                "width_depth": coefficient,
                "parameters": count_parameters(network),
                "train_images_per_s": training_rate(
                    network, (32, 1, 48, 48), 7, 0.01, args.steps, "cpu"
                ),
                "inference_images_per_s": inference_rate(network, 256, args.steps),
            }
        )
    print_report(results, "cpu")


if __name__ == "__main__":
    main()

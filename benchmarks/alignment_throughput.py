"""Aligned frames per second on the demo MER corpora: one MTCNN detection per clip against
detection on every frame, on the same clips in one run.

    .venv/bin/python benchmarks/alignment_throughput.py [--corpora casme2 samm smic] [--repeats 1]

Frame reading is timed separately and excluded from both figures, so they compare alignment
alone. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from expression_nas.corpora.base import read_sample
from expression_nas.corpora.registry import load_corpus
from expression_nas.demo import generate_demo_corpus
from expression_nas.preprocessing.alignment import AlignmentConfig, align_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", default=["casme2", "samm", "smic"])
    parser.add_argument("--root", type=Path, default=None, help="demo root (default: temporary)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = args.root or Path(scratch)
        clips = []
        started = time.perf_counter()
        for kind in args.corpora:
            corpus_root = generate_demo_corpus(kind, root / kind)
            index = load_corpus(kind, root=corpus_root)
            clips += [read_sample(row).stacked() for row in index.to_dict("records")]
        read_seconds = time.perf_counter() - started
        n_frames = sum(len(clip) for clip in clips)

        align_clip(clips[0][:1], AlignmentConfig())  # load the detector outside the timings
        figures = {}
        for mode in ("per_clip", "per_frame"):
            config = AlignmentConfig(size=80, detect=mode)
            best = float("inf")
            for _ in range(args.repeats):
                started = time.perf_counter()
                for clip in clips:
                    align_clip(clip, config)
                best = min(best, time.perf_counter() - started)
            figures[mode] = {
                "seconds": round(best, 2),
                "frames_per_second": round(n_frames / best, 1),
            }

    print(
        json.dumps(
            {
                "corpora": args.corpora,
                "clips": len(clips),
                "frames": n_frames,
                "frame_sizes": sorted({f"{c.shape[2]}x{c.shape[1]}" for c in clips}),
                "generate_and_read_seconds": round(read_seconds, 2),
                "alignment": figures,
                "speedup_per_clip_vs_per_frame": round(
                    figures["per_frame"]["seconds"] / figures["per_clip"]["seconds"], 1
                ),
                "machine": {
                    "cpu_cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "processor": platform.processor() or platform.machine(),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

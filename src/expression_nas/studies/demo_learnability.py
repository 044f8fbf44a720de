"""Can the demo FER corpora be learned? A fixed reference CNN, with a shuffled-label control.

For each demo FER corpus (FER2013, CK+, JAFFE) the study generates it, prepares it as the
``data_preparation`` pipeline does (MTCNN alignment to 48x48 grayscale for CK+ and JAFFE;
FER2013 ships 48x48 crops), and trains the reference network (``models.plain_cnn_net``,
not searched) under the corpus's FER protocol (``experiments.fer_evaluation``): FER2013's
Training split tested on PrivateTest, person-independent k-fold on CK+ and JAFFE.

The control trains the same network on the same images with their labels shuffled across
the corpus and scores its predictions against the true labels: it must stay at chance, so a
score above chance comes from the expressions and not from an artefact of rendering, of the
folds or of the file order. Nothing is chosen on a test side: fixed epochs, fixed settings.

    python -m expression_nas.studies.demo_learnability [--output-dir DIR] [--seed N]

prints one JSON object {corpus: {"accuracy", "uar", "uf1", "chance", "shuffled": {...}}}.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from expression_nas.corpora.registry import load_corpus
from expression_nas.demo import generate_demo_corpus
from expression_nas.experiments.fer_evaluation import evaluate_fer, summarize_fer
from expression_nas.models.plain_cnn_net import plain_cnn_spec
from expression_nas.models.registry import build_model
from expression_nas.preprocessing import corpus as prep
from expression_nas.preprocessing.alignment import AlignmentConfig
from expression_nas.training.loop import OptimizerConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoFerCorpus:
    """One demo FER corpus as the data_preparation pipeline's demo entries prepare it."""

    kind: str
    classes: tuple[str, ...]
    protocol: str
    k: int = 0
    align: bool = True
    epochs: int = 25  # of the reference training: FER2013, ten times larger, needs fewer


#: Classes as in conf/base/parameters_data_preparation.yml; k as in the darts_fer demo.
CORPORA = (
    DemoFerCorpus(
        "fer2013",
        ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
        "standard_split",
        align=False,
        epochs=6,
    ),
    DemoFerCorpus(
        "ckplus",
        ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"),
        "kfold",
        k=4,
    ),
    DemoFerCorpus(
        "jaffe",
        ("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprise"),
        "kfold",
        k=3,
    ),
)
#: The reference training: SGD with momentum, cosine learning rate, no augmentation; the
#: number of epochs is each corpus's.
TRAINING = OptimizerConfig(lr=0.02, momentum=0.9, weight_decay=5e-4, batch_size=32)


def prepare_demo(
    corpus: DemoFerCorpus, root: Path, seed: int = 0, **overrides: Any
) -> tuple[np.ndarray, pd.DataFrame]:
    """Generate a demo FER corpus under ``root`` and prepare it: (images [N, 48, 48], samples)."""
    generate_demo_corpus(corpus.kind, root, seed=seed, **overrides)
    index = prep.select_classes(load_corpus(corpus.kind, root=root), corpus.classes)
    aligned = prep.align_samples(
        index, AlignmentConfig(size=48), align=corpus.align, description=corpus.kind
    )
    return prep.assemble_stills(index, aligned)


def _network(n_classes: int) -> torch.nn.Module:
    return build_model(plain_cnn_spec(in_channels=1, num_classes=n_classes))


def score(
    images: np.ndarray,
    samples: pd.DataFrame,
    corpus: DemoFerCorpus,
    training: OptimizerConfig = TRAINING,
    shuffle_seed: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy, UAR and UF1 of the reference network under the corpus's protocol, trained
    for ``corpus.epochs`` epochs with ``training``'s other settings.

    With ``shuffle_seed``, training sees the labels permuted across the whole corpus; the
    predictions are still scored against the true labels.
    """
    training = replace(training, epochs=corpus.epochs)
    samples = samples.reset_index(drop=True)
    trained_on = samples
    if shuffle_seed is not None:
        permuted = np.random.default_rng(shuffle_seed).permutation(samples["label_index"])
        trained_on = samples.assign(label_index=permuted)
    predictions = evaluate_fer(
        images,
        trained_on,
        _network,
        corpus.classes,
        protocol=corpus.protocol,
        training=training,
        k=corpus.k,
        seed=seed,
    )
    truth = samples.set_index("sample_id")["label_index"]
    predictions["y_true"] = truth.loc[predictions["sample_id"]].to_numpy()
    summary = summarize_fer(predictions, corpus.classes)
    return {
        "accuracy": summary["accuracy"],
        "uar": summary["uar"],
        "uf1": summary["uf1"],
        "n": summary["n"],
    }


def run_study(
    root: Path, training: OptimizerConfig = TRAINING, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Prepare every demo FER corpus under ``root`` and score the network and its control."""
    results = {}
    for corpus in CORPORA:
        started = time.perf_counter()
        images, samples = prepare_demo(corpus, root / corpus.kind, seed=seed)
        prepared = time.perf_counter()
        result = score(images, samples, corpus, training, seed=seed)
        result["shuffled"] = score(images, samples, corpus, training, shuffle_seed=seed, seed=seed)
        result["chance"] = 1.0 / len(corpus.classes)
        result["images"] = len(samples)
        result["seconds"] = {
            "preparation": round(prepared - started, 1),
            "training": round(time.perf_counter() - prepared, 1),
        }
        logger.info(
            "%s: accuracy %.3f, UAR %.3f (shuffled labels: accuracy %.3f, UAR %.3f; chance %.3f)",
            corpus.kind,
            result["accuracy"],
            result["uar"],
            result["shuffled"]["accuracy"],
            result["shuffled"]["uar"],
            result["chance"],
        )
        results[corpus.kind] = result
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir", type=Path, default=Path("data/08_reporting/demo_learnability")
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as scratch:
        results = run_study(Path(scratch), seed=args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2)
    (args.output_dir / "results.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

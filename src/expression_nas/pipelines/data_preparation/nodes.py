"""Nodes of the data_preparation pipeline. Each is a thin wrapper over library code."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from expression_nas.corpora.registry import load_corpus
from expression_nas.demo import generate_demo_corpus
from expression_nas.experiments.library_configs import alignment_config, augmentation_config
from expression_nas.parameters import AlignmentParams, AugmentationParams, CorpusParams
from expression_nas.preprocessing import corpus as prep
from expression_nas.preprocessing.alignment import AlignedClip
from expression_nas.preprocessing.augmentation import ClipAugmenter, augmentation_plan

logger = logging.getLogger(__name__)


def index_corpus(corpus: CorpusParams) -> pd.DataFrame:
    """Read the corpus layout into a raw index; a demo corpus is generated first if missing."""
    if not corpus.root_is_set:
        raise ValueError(
            f"the root of corpus kind {corpus.kind!r} is not set: put the path of your copy in "
            f"conf/<env>/parameters_data_preparation.yml (see README, 'Real corpora')"
        )
    if corpus.demo:
        # `demo: true` generates the default demo; a mapping overrides generator settings
        overrides = corpus.demo if isinstance(corpus.demo, dict) else {}
        for source_kind, source_root in corpus.source_roots().items():
            generate_demo_corpus(source_kind, source_root, **overrides)
    index = load_corpus(corpus.kind, **corpus.loader_arguments())
    logger.info(
        "%s: %d samples from %d subjects", corpus.kind, len(index), index["subject"].nunique()
    )
    return index


def select_classes(raw_index: pd.DataFrame, corpus: CorpusParams) -> pd.DataFrame:
    """Keep the configured classes (which the parameter model checked against the corpus's
    labels)."""
    return prep.select_classes(raw_index, corpus.classes, corpus.label_map)


def align_corpus(
    index: pd.DataFrame, corpus: CorpusParams, alignment: AlignmentParams
) -> list[AlignedClip]:
    """Align every sample; a corpus's own ``alignment`` settings override the shared ones."""
    settings = corpus.alignment_over(alignment)
    return prep.align_samples(
        index, alignment_config(settings), align=settings.enabled, description=corpus.kind
    )


def build_clips(
    index: pd.DataFrame, aligned: list[AlignedClip], corpus: CorpusParams
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Fixed-length clips, the sample table and the onset-apex pairs of a MER corpus."""
    return prep.assemble_clips(index, aligned, corpus.length, corpus.interpolation)


def build_stills(
    index: pd.DataFrame, aligned: list[AlignedClip]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Images and the sample table of a FER corpus."""
    return prep.assemble_stills(index, aligned)


def report_quality(
    raw_index: pd.DataFrame, index: pd.DataFrame, aligned: list[AlignedClip], corpus: CorpusParams
) -> dict[str, Any]:
    report = prep.quality_report(corpus.kind, raw_index, index, aligned)
    logger.info(
        "%s: %d aligned, %d dropped (%s), %d frames repaired, %d frames unreadable, "
        "%d samples with several faces, %d excluded by label",
        corpus.kind,
        report["samples_aligned"],
        report["samples_dropped"],
        ", ".join(f"{reason}: {n}" for reason, n in report["drop_reasons"].items()) or "none",
        report["frames_repaired"],
        report["frames_unreadable"],
        report["samples_multiple_faces"],
        sum(report["samples_excluded_by_label"].values()),
    )
    return report


def augment_clips(
    clips: np.ndarray, samples: pd.DataFrame, augmentation: AugmentationParams
) -> tuple[np.ndarray, pd.DataFrame]:
    """Augmented copies of every clip, optionally class-balanced (see ``augmentation_plan``).

    Rows keep their subject, so a LOSO fold drops the held-out subject's copies with it;
    ``source_row`` points back at the original row and ``copy`` is 0 for the original itself.
    """
    seed = augmentation.seed
    augmenter = ClipAugmenter(augmentation_config(augmentation))
    plan = augmentation_plan(
        samples["label_index"],
        augmentation.copies,
        augmentation.balance_classes,
        np.random.default_rng(seed),
    )
    out = np.empty((len(plan), *clips.shape[1:]), dtype=clips.dtype)
    for position, (row, copy) in enumerate(plan):
        clip = np.asarray(clips[row])
        out[position] = clip if copy == 0 else augmenter(clip, seed=_copy_seed(seed, row, copy))
    table = samples.iloc[[row for row, _ in plan]].reset_index(drop=True)
    table["source_row"] = [row for row, _ in plan]
    table["copy"] = [copy for _, copy in plan]
    logger.info("augmented %d samples into %d", len(samples), len(table))
    return out, table


def augment_stills(
    images: np.ndarray, samples: pd.DataFrame, augmentation: AugmentationParams
) -> tuple[np.ndarray, pd.DataFrame]:
    """As ``augment_clips``, for stills [N, H, W(, 3)] (each treated as a one-frame clip)."""
    clips, table = augment_clips(images[:, None], samples, augmentation)
    return clips[:, 0], table


def _copy_seed(seed: int, row: int, copy: int) -> int:
    return (seed * 1_000_003 + row) * 1_009 + copy

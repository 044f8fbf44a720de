"""Nodes of the data_preparation pipeline. Each is a thin wrapper over library code."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from expression_nas.corpora.registry import VOCABULARIES, load_corpus
from expression_nas.demo import generate_demo_corpus
from expression_nas.preprocessing import corpus as prep
from expression_nas.preprocessing.alignment import AlignedClip, AlignmentConfig
from expression_nas.preprocessing.augmentation import (
    AugmentationConfig,
    ClipAugmenter,
    augmentation_plan,
)

logger = logging.getLogger(__name__)

#: Corpus kinds whose roots are a mapping of source corpora rather than one folder.
COMPOSITE_SOURCES = ("casme2", "samm", "smic")


def index_corpus(corpus: dict[str, Any]) -> pd.DataFrame:
    """Read the corpus layout into a raw index; a demo corpus is generated first if missing."""
    kind, root = corpus["kind"], corpus["root"]
    if root is None or (isinstance(root, dict) and None in root.values()):
        raise ValueError(
            f"the root of corpus kind {kind!r} is not set: put the path of your copy in "
            f"conf/<env>/parameters_data_preparation.yml (see README, 'Real corpora')"
        )
    demo = corpus.get("demo")
    if demo:
        # `demo: true` generates the default demo; a mapping overrides generator settings
        overrides = demo if isinstance(demo, dict) else {}
        for source_kind, source_root in _roots(kind, root).items():
            generate_demo_corpus(source_kind, source_root, **overrides)
    options = dict(corpus.get("loader", {}))
    roots = root if kind == "composite" else {"root": root}
    index = load_corpus(kind, **roots, **options)
    logger.info("%s: %d samples from %d subjects", kind, len(index), index["subject"].nunique())
    return index


def _roots(kind: str, root: str | dict[str, str]) -> dict[str, str]:
    if kind == "composite":
        return {source: root[source] for source in COMPOSITE_SOURCES}
    return {kind: root}


def select_classes(raw_index: pd.DataFrame, corpus: dict[str, Any]) -> pd.DataFrame:
    """Keep the configured classes; a class the corpus cannot have is a configuration error."""
    label_map = corpus.get("label_map") or {}
    known = set(VOCABULARIES[corpus["kind"]]) | set(label_map.values())
    unknown = [name for name in corpus["classes"] if name not in known]
    if unknown:
        raise ValueError(
            f"parameters data_preparation.corpora.<corpus>.classes: {unknown} are not labels of "
            f"corpus kind {corpus['kind']!r}; expected some of {sorted(known)}"
        )
    return prep.select_classes(raw_index, corpus["classes"], label_map)


def align_corpus(
    index: pd.DataFrame, corpus: dict[str, Any], alignment: dict[str, Any]
) -> list[AlignedClip]:
    """Align every sample; a corpus's own ``alignment`` settings override the shared ones."""
    settings = {**alignment, **corpus.get("alignment", {})}
    enabled = settings.pop("enabled", True)
    return prep.align_samples(
        index, AlignmentConfig(**settings), align=enabled, description=corpus["kind"]
    )


def build_clips(
    index: pd.DataFrame, aligned: list[AlignedClip], corpus: dict[str, Any]
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Fixed-length clips, the sample table and the onset-apex pairs of a MER corpus."""
    return prep.assemble_clips(index, aligned, corpus["length"], corpus.get("interpolation", "tim"))


def build_stills(
    index: pd.DataFrame, aligned: list[AlignedClip]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Images and the sample table of a FER corpus."""
    return prep.assemble_stills(index, aligned)


def report_quality(
    raw_index: pd.DataFrame, index: pd.DataFrame, aligned: list[AlignedClip], corpus: dict[str, Any]
) -> dict[str, Any]:
    report = prep.quality_report(corpus["kind"], raw_index, index, aligned)
    logger.info(
        "%s: %d aligned, %d dropped (%s), %d frames repaired, %d frames unreadable, "
        "%d samples with several faces, %d excluded by label",
        corpus["kind"],
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
    clips: np.ndarray, samples: pd.DataFrame, augmentation: dict[str, Any]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Augmented copies of every clip, optionally class-balanced (see ``augmentation_plan``).

    Rows keep their subject, so a LOSO fold drops the held-out subject's copies with it;
    ``source_row`` points back at the original row and ``copy`` is 0 for the original itself.
    """
    settings = dict(augmentation)
    copies, balance = settings.pop("copies"), settings.pop("balance_classes")
    seed = settings.pop("seed")
    augmenter = ClipAugmenter(AugmentationConfig(**settings))
    plan = augmentation_plan(samples["label_index"], copies, balance, np.random.default_rng(seed))
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
    images: np.ndarray, samples: pd.DataFrame, augmentation: dict[str, Any]
) -> tuple[np.ndarray, pd.DataFrame]:
    """As ``augment_clips``, for stills [N, H, W(, 3)] (each treated as a one-frame clip)."""
    clips, table = augment_clips(images[:, None], samples, augmentation)
    return clips[:, 0], table


def _copy_seed(seed: int, row: int, copy: int) -> int:
    return (seed * 1_000_003 + row) * 1_009 + copy

"""Composite MEGC2019 corpus: CASME II + SAMM + SMIC-HS with three shared classes.

Each source is loaded with its own loader, labels are mapped by ``COMPOSITE_LABEL_MAP`` and
samples labelled others/other are left out (MEGC2019 protocol). Subjects and sample ids are
prefixed with the source ("casme2/sub01", "samm/006", "smic/s1") so that they stay unique
across sources for leave-one-subject-out evaluation.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError
from expression_nas.corpora.casme2 import load_casme2
from expression_nas.corpora.samm import load_samm
from expression_nas.corpora.smic import load_smic

logger = logging.getLogger(__name__)

COMPOSITE_CLASSES = ("negative", "positive", "surprise")

#: Source label (any of the three corpora) -> composite class.
COMPOSITE_LABEL_MAP = {
    "anger": "negative",
    "contempt": "negative",
    "disgust": "negative",
    "sadness": "negative",
    "fear": "negative",
    "repression": "negative",
    "negative": "negative",
    "happiness": "positive",
    "positive": "positive",
    "surprise": "surprise",
}

#: Labels outside the three classes, left out of the composite.
EXCLUDED_LABELS = ("others", "other")

EXTRA_COLUMNS = ("source", "original_label", "action_units")


def composite_from_indexes(indexes: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Merge per-source raw indexes (source kind -> index) into the composite index."""
    parts = []
    for source, index in indexes.items():
        excluded = index["label"].isin(EXCLUDED_LABELS)
        unmapped = sorted(set(index.loc[~excluded, "label"]) - set(COMPOSITE_LABEL_MAP))
        if unmapped:
            raise CorpusError(f"{source}: labels {unmapped} have no composite class")
        logger.info("composite: %s: %d samples labelled other(s) left out", source, excluded.sum())
        part = index.loc[~excluded].copy()
        part["source"] = source
        part["original_label"] = part["label"]
        part["label"] = part["label"].map(COMPOSITE_LABEL_MAP)
        part["subject"] = source + "/" + part["subject"]
        part["sample_id"] = source + "/" + part["sample_id"]
        if "action_units" not in part:
            part["action_units"] = ""
        parts.append(part[[*INDEX_COLUMNS, *EXTRA_COLUMNS]])
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(["subject", "sample_id"], kind="stable").reset_index(drop=True)
    logger.info(
        "composite: %d samples from %d subjects (%s)",
        len(table),
        table["subject"].nunique(),
        ", ".join(f"{label} {count}" for label, count in table["label"].value_counts().items()),
    )
    return table


def load_composite(
    casme2: str | Path, samm: str | Path, smic: str | Path, casme2_variant: str = "raw"
) -> pd.DataFrame:
    """Raw index of the MEGC2019 composite, plus ``source``, ``original_label`` and
    ``action_units``; ``dataset`` keeps the source corpus kind."""
    return composite_from_indexes(
        {
            "casme2": load_casme2(casme2, variant=casme2_variant),
            "samm": load_samm(samm),
            "smic": load_smic(smic),
        }
    )

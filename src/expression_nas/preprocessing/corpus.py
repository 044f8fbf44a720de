"""Corpus-level preparation: class selection, alignment of every sample, and assembly of the
prepared arrays and sample table (the data contract of DESIGN.md section 3)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from expression_nas import progress
from expression_nas.corpora.base import SampleFrames, read_sample
from expression_nas.preprocessing.alignment import (
    AlignedClip,
    AlignmentConfig,
    align_clip,
    to_grayscale,
)
from expression_nas.preprocessing.normalization import (
    apex_position,
    normalize_length,
    onset_apex_pair,
)

logger = logging.getLogger(__name__)

#: Quality columns added to every sample table.
QUALITY_COLUMNS = (
    "face_found",
    "detector_score",
    "reference_shift",
    "eye_angle_deg",
    "frames_repaired",
    "frames_dropped",
    "frames_unreadable",
    "faces_detected",
)


def select_classes(
    index: pd.DataFrame, classes: Sequence[str], label_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Map labels through ``label_map``, keep the rows whose label is in ``classes`` and number
    them by their position in ``classes`` (column ``label_index``)."""
    if not classes:
        raise ValueError("the corpus parameters list no classes")
    labels = index["label"].map(lambda word: (label_map or {}).get(word, word))
    known = set(labels)
    missing = [name for name in classes if name not in known]
    if missing:
        logger.warning("classes %s have no sample in this corpus", missing)
    keep = labels.isin(classes)
    excluded = Counter(labels[~keep])
    if excluded:
        logger.info("excluded samples by label (not in classes): %s", dict(excluded))
    selected = index.loc[keep].copy()
    if label_map:
        selected["original_label"] = selected["label"]
    selected["label"] = labels[keep]
    selected["label_index"] = selected["label"].map({name: i for i, name in enumerate(classes)})
    return selected.reset_index(drop=True)


def resize_only(frames: np.ndarray, config: AlignmentConfig) -> AlignedClip:
    """For corpora that ship face crops already (FER2013): resize, no detection."""
    images = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    if images.shape[-2:] != (config.size, config.size):
        images = F.interpolate(
            images, size=(config.size, config.size), mode="bilinear", antialias=True
        )
    crops = images.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return AlignedClip(
        frames=to_grayscale(crops) if config.grayscale else crops,
        face_found=True,
        detector_score=float("nan"),
        reference_shift=0,
        eye_angle_deg=float("nan"),
        kept_frame_indices=list(range(len(frames))),
        faces_detected=1,  # the crop is the face
    )


def align_samples(
    index: pd.DataFrame, config: AlignmentConfig, align: bool = True, description: str = "align"
) -> list[AlignedClip]:
    """Read and align every sample of ``index``, one clip at a time (raw frames never pile up).

    Frames that cannot be read and frames with several faces follow the policies of
    ``preprocessing.alignment``; each case is logged and recorded in the sample's AlignedClip.
    """
    aligned = []
    for row in progress.track(index.to_dict("records"), description, "clip"):
        read = read_sample(row)
        frames = usable_frames(read, config.unreadable_frame)
        unreadable = [{"file": file, "reason": reason} for file, reason in read.unreadable.values()]
        if frames is None:
            reason = "unreadable_image" if len(read.images) == 1 else "unreadable_clip"
            clip = AlignedClip.dropped(reason, unreadable_files=unreadable)
        else:
            clip = align_clip(frames, config) if align else resize_only(frames, config)
            clip.unreadable_files = unreadable
        _log_findings(row["sample_id"], clip, config)
        aligned.append(clip)
    return aligned


def usable_frames(read: SampleFrames, policy: str) -> np.ndarray | None:
    """A sample's frames [T, H, W, 3] under the policy ``unreadable_frame`` (see
    ``preprocessing.alignment``): None when the sample is dropped."""
    if policy == "error" or not read.unreadable:
        return read.stacked()  # with policy "error": CorpusError naming the first unusable file
    readable = np.flatnonzero([image is not None for image in read.images])
    if policy == "drop_clip" or not readable.size:
        return None
    nearest = [readable[np.abs(readable - i).argmin()] for i in range(len(read.images))]
    return np.stack([read.images[i] for i in nearest])


def _log_findings(sample_id: str, clip: AlignedClip, config: AlignmentConfig) -> None:
    action = (
        f"sample dropped ({clip.drop_reason})"
        if clip.drop_reason.startswith("unreadable")
        else "replaced by the nearest readable frame"
    )
    for item in clip.unreadable_files:
        logger.warning("%s: %s: %s; %s", sample_id, item["file"], item["reason"], action)
    if clip.faces_detected > 1:
        logger.warning(
            "%s: %d faces detected, aligned on the %s one",
            sample_id,
            clip.faces_detected,
            config.multiple_faces,
        )


def _sample_table(index: pd.DataFrame, aligned: Sequence[AlignedClip]) -> pd.DataFrame:
    table = index.drop(columns=[c for c in ("frames", "pixels") if c in index.columns]).copy()
    for column in QUALITY_COLUMNS:
        table[column] = [getattr(clip, column) for clip in aligned]
    return table


def assemble_clips(
    index: pd.DataFrame, aligned: Sequence[AlignedClip], length: int, method: str
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Stack the kept clips at a fixed length: (clips [N, T, ...], samples, onset_apex [N, 2, ...]).

    ``apex_position`` in the sample table is the apex's index in the normalised clip; the
    onset-apex pair is taken from the aligned frames before resampling, so it is exact.
    """
    kept = [i for i, clip in enumerate(aligned) if clip.frames is not None]
    if not kept:
        raise ValueError("no clip survived alignment; see the alignment report")
    samples = _sample_table(index, aligned).iloc[kept].reset_index(drop=True)
    clips, pairs, positions = [], [], []
    for i in kept:
        clip, row = aligned[i], index.iloc[i]
        clips.append(normalize_length(clip.frames, length, method))
        apex_raw = apex_position(row["onset"], row["apex"], row["offset"], row["n_frames_raw"])
        apex_kept = int(np.abs(np.asarray(clip.kept_frame_indices) - apex_raw).argmin())
        pairs.append(onset_apex_pair(clip.frames, apex_kept))
        positions.append(apex_position(row["onset"], row["apex"], row["offset"], length))
    samples["apex_position"] = positions
    return np.stack(clips), samples, np.stack(pairs)


def assemble_stills(
    index: pd.DataFrame, aligned: Sequence[AlignedClip]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Stack the kept stills: (images [N, H, W(, 3)], samples)."""
    kept = [i for i, clip in enumerate(aligned) if clip.frames is not None]
    if not kept:
        raise ValueError("no image survived alignment; see the alignment report")
    samples = _sample_table(index, aligned).iloc[kept].reset_index(drop=True)
    return np.stack([aligned[i].frames[0] for i in kept]), samples


def quality_report(
    corpus: str, raw_index: pd.DataFrame, index: pd.DataFrame, aligned: Sequence[AlignedClip]
) -> dict:
    """What preparation found and did, for the reporting layer (JSON-serialisable)."""
    scores = np.array([clip.detector_score for clip in aligned], dtype=float)
    scores = scores[np.isfinite(scores)]
    dropped = [
        {
            "sample_id": index.iloc[i]["sample_id"],
            "subject": index.iloc[i]["subject"],
            "reason": clip.drop_reason,
        }
        for i, clip in enumerate(aligned)
        if clip.frames is None
    ]
    excluded = Counter(raw_index.loc[~raw_index["sample_id"].isin(index["sample_id"]), "label"])
    return {
        "corpus": corpus,
        "samples_indexed": len(raw_index),
        "samples_excluded_by_label": dict(sorted(excluded.items())),
        "samples_aligned": len(aligned) - len(dropped),
        "samples_dropped": len(dropped),
        "drop_reasons": dict(Counter(item["reason"] for item in dropped)),
        "dropped": dropped,
        "faces_found": sum(clip.face_found for clip in aligned),
        "detector_score_mean": float(scores.mean()) if scores.size else None,
        "detector_score_min": float(scores.min()) if scores.size else None,
        "reference_frame_shifts": dict(
            Counter(int(clip.reference_shift) for clip in aligned if clip.face_found)
        ),
        "frames_repaired": sum(clip.frames_repaired for clip in aligned),
        "frames_dropped": sum(clip.frames_dropped for clip in aligned),
        "frames_unreadable": sum(clip.frames_unreadable for clip in aligned),
        "unreadable_files": [
            {"sample_id": index.iloc[i]["sample_id"], **item}
            for i, clip in enumerate(aligned)
            for item in clip.unreadable_files
        ],
        "samples_multiple_faces": sum(clip.faces_detected > 1 for clip in aligned),
        "apex_imputed": int(index["apex_imputed"].sum()),
        "offset_repaired": int(index["offset_repaired"].sum()),
    }

"""LOSO must never let training (or any selection inside it) read the held-out subject."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from expression_nas.evaluation import FoldView, classification_metrics, run_loso
from expression_nas.evaluation.protocols import subject_validation_split
from expression_nas.training import (
    ClipDataset,
    OptimizerConfig,
    make_loader,
    predict,
    train_fixed_epochs,
)


class RecordingClips:
    """Array proxy that records every row position read through it."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.reads: set[int] = set()

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: Any) -> np.ndarray:
        first = index[0] if isinstance(index, tuple) else index
        self.reads.update(np.atleast_1d(np.arange(len(self.array))[first]).tolist())
        return self.array[index]


def augmented_corpus() -> tuple[np.ndarray, pd.DataFrame]:
    """3 subjects x 4 originals, plus augmented copies (copy > 0) of some originals."""
    originals = pd.DataFrame(
        {
            "dataset": ["casme2"] * 8 + ["samm"] * 4,
            "subject": np.repeat(["casme2/sub01", "casme2/sub02", "samm/006"], 4),
            "sample_id": [f"clip{i}" for i in range(12)],
            "label_index": np.tile([0, 1], 6),
        }
    )
    plan = [(row, 0) for row in range(12)] + [(row, 1) for row in range(0, 12, 2)] + [(0, 2)]
    samples = originals.iloc[[row for row, _ in plan]].reset_index(drop=True)
    samples["source_row"] = [row for row, _ in plan]
    samples["copy"] = [copy for _, copy in plan]
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 100, size=(len(samples), 2, 4, 4)).astype(np.uint8)
    clips[samples["label_index"].to_numpy() == 1] += 120
    return clips, samples


def test_training_never_reads_the_held_out_subject():
    clips, samples = augmented_corpus()
    recorder = RecordingClips(clips)
    train_reads: dict[str, set[int]] = {}
    test_reads: dict[str, set[int]] = {}
    last_train: set[int] = set()

    def train_fn(view: FoldView) -> nn.Module:
        recorder.reads.clear()
        # a selection step inside training: a subject-wise validation split
        train_rows, val_rows = subject_validation_split(
            np.arange(len(view)), view.samples["subject"], 0.5, seed=0
        )
        assert len(val_rows) > 0
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
        loader = make_loader(ClipDataset(view.clips, train_rows, view.labels[train_rows]), 4, True)
        train_fixed_epochs(model, loader, OptimizerConfig(lr=0.05, epochs=2))
        predict(
            model, make_loader(ClipDataset(view.clips, val_rows, view.labels[val_rows]), 4, False)
        )
        np.asarray(view.clips)  # even reading the whole view stays inside the training rows
        last_train.clear()
        last_train.update(recorder.reads)
        recorder.reads.clear()
        return model

    def predict_fn(model: nn.Module, view: FoldView) -> np.ndarray:
        loader = make_loader(ClipDataset(view.clips, np.arange(len(view)), view.labels), 4, False)
        return predict(model, loader)[1]

    def on_fold_end(fold, part, model) -> None:
        train_reads[fold.test_subject] = set(last_train)
        test_reads[fold.test_subject] = set(recorder.reads)

    predictions = run_loso(recorder, samples, train_fn, predict_fn, on_fold_end=on_fold_end)

    subjects = samples["subject"].to_numpy()
    copies = samples["copy"].to_numpy()
    assert set(train_reads) == set(subjects)
    for subject, reads in train_reads.items():
        held_out = set(np.flatnonzero(subjects == subject).tolist())  # originals and copies
        assert reads.isdisjoint(held_out), f"training read held-out subject {subject}"
        # training takes every row of the other subjects, augmented copies included
        assert reads == set(range(len(samples))) - held_out
        assert test_reads[subject] == set(np.flatnonzero((subjects == subject) & (copies == 0)))

    # every original tested once, no augmented copy ever tested
    assert sorted(predictions["sample_id"]) == sorted(samples.loc[copies == 0, "sample_id"])
    assert list(predictions.columns) == [
        "sample_id",
        "subject",
        "dataset",
        "fold",
        "y_true",
        "y_pred",
    ]
    assert predictions.groupby("subject")["fold"].nunique().eq(1).all()
    assert classification_metrics(predictions["y_true"], predictions["y_pred"], 2)["n"] == 12


def test_fold_view_cannot_index_past_its_rows():
    clips, samples = augmented_corpus()
    views: list[FoldView] = []

    def train_fn(view: FoldView) -> None:
        views.append(view)

    run_loso(clips, samples, train_fn, lambda model, view: np.zeros(len(view), dtype=int))
    view = views[0]
    with pytest.raises(IndexError):
        view.clips[len(view)]
    with pytest.raises(IndexError):
        view.clips[np.array([0, len(view)])]
    assert view.clips.shape == (len(view), *clips.shape[1:])

"""The protocol of efficientnet_fer: what the trials, the early stopping and the comparisons
see (never a test split or a test subject), the search's resume with more trials, the spec of
the best trial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from expression_nas.experiments import efficientnet_comparisons as comparisons
from expression_nas.experiments import efficientnet_fer as experiment
from expression_nas.models.registry import build_model
from expression_nas.parameters import EfficientnetFerParams
from expression_nas.preprocessing.augmentation import AugmentationConfig
from expression_nas.training.early_stopping import EarlyStoppingResult

pytestmark = pytest.mark.usefixtures("single_torch_thread")
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
TINY_TRAINING = {"max_epochs": 1, "patience": 1, "batch_size": 16, "augment": False}


def _images(n: int) -> np.ndarray:
    """16x16 stills whose first two pixels spell their own row number."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, 16, 16), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    return images


def _rows_of(images: np.ndarray) -> set[int]:
    return set((images[:, 0, 0].astype(int) * 256 + images[:, 0, 1]).tolist())


def _fer_table() -> pd.DataFrame:
    """FER2013-like: 40 Training rows (disgust the rarest), 14 PublicTest, 14 PrivateTest."""
    train_labels = [c for c in range(7) for _ in range(2 if c == 1 else 6 + c % 2)][:40]
    labels = train_labels + [i % 7 for i in range(28)]
    usage = ["Training"] * len(train_labels) + ["PublicTest"] * 14 + ["PrivateTest"] * 14
    return pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(len(labels))],
            "subject": [f"p{i}" for i in range(len(labels))],
            "label_index": labels,
            "usage": usage,
        }
    )


def _kfold_table() -> pd.DataFrame:
    """CK+-like: 8 subjects of 6 images, 3 classes."""
    return pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(48)],
            "subject": [f"S{i // 6:03d}" for i in range(48)],
            "label_index": [i % 3 for i in range(48)],
        }
    )


def _params(tmp_path, **overrides) -> EfficientnetFerParams:
    settings = {
        "study": {"storage": str(tmp_path / "study.journal"), "n_trials": 1, "n_workers": 1},
        "search_training": {**TINY_TRAINING, "max_train_images": 21},
        "final_training": TINY_TRAINING,
        "comparisons": {"max_train_images": 21},
        "space": {
            "width_coefficient": {"low": 0.2, "high": 0.25, "step": 0.05},
            "depth_coefficient": {"low": 0.2, "high": 0.25, "step": 0.05},
            "top_filters": {"low": 16, "high": 24, "step": 8},
        },
        "evaluation": {
            "toy_fer": {"protocol": "standard_split"},
            "toy_ckplus": {"protocol": "kfold", "k": 2, "validation_fraction": 0.25},
        },
    }
    return EfficientnetFerParams.model_validate(settings | overrides)


def test_trials_see_training_and_publictest_only(tmp_path):
    samples = _fer_table()
    objective = experiment.trial_objective(
        _images(len(samples)), samples, CLASSES, _params(tmp_path), AugmentationConfig()
    )
    usage = samples["usage"].to_numpy()
    train, validation = _rows_of(objective.train.images), _rows_of(objective.validation.images)
    assert len(train) == 21 and set(usage[sorted(train)]) == {"Training"}
    assert validation == set(np.flatnonzero(usage == "PublicTest"))
    # stratified: every class of Training is drawn, disgust (2 of 40) at least once
    assert set(objective.train.labels) == set(range(7))
    np.testing.assert_array_equal(objective.train.labels, samples["label_index"][sorted(train)])


class _Constant(nn.Module):
    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images), self.n_classes)


@pytest.mark.parametrize("corpus", ["toy_fer", "toy_ckplus"])
def test_early_stopping_never_sees_a_test_split_or_test_subject(tmp_path, monkeypatch, corpus):
    samples = _fer_table() if corpus == "toy_fer" else _kfold_table()
    seen = []

    def fake_fit(spec, lr, train, validation, *args, **kwargs):
        seen.append((_rows_of(train.images), _rows_of(validation.images)))
        return _Constant(spec["num_classes"]), EarlyStoppingResult([], 1, 1, 0.0, 0.0, 0.0)

    monkeypatch.setattr(experiment, "fit", fake_fit)
    spec = experiment.configured_spec(
        {"width_coefficient": 0.2, "depth_coefficient": 0.2, "top_filters": 16, "dropout": 0.0},
        1,
        7,
        "scaled_down",
        0.2,
    ) | {"provenance": {"lr": 1e-3}}
    classes = CLASSES if corpus == "toy_fer" else CLASSES[:3]
    predictions, metrics, _ = experiment.evaluate_corpus(
        _images(len(samples)), samples, classes, corpus, spec, 1.0, _params(tmp_path),
        AugmentationConfig(),
    )  # fmt: skip
    assert sorted(predictions["sample_id"]) == sorted(
        samples["sample_id"] if corpus == "toy_ckplus" else
        samples.loc[samples["usage"] == "PrivateTest", "sample_id"]
    )  # fmt: skip
    subjects = samples["subject"].to_numpy()
    for (train, validation), (_, fold) in zip(seen, predictions.groupby("fold"), strict=True):
        tested = set(np.flatnonzero(samples["sample_id"].isin(fold["sample_id"])))
        assert not (train | validation) & tested and not train & validation
        assert not set(subjects[sorted(train | validation)]) & set(fold["subject"])
        if corpus == "toy_fer":
            assert set(samples["usage"][sorted(validation)]) == {"PublicTest"}
            assert set(samples["usage"][sorted(train)]) == {"Training"}
    rebuilt = build_model({**spec, "num_classes": len(classes)})  # the corpus's classes
    assert metrics["costs"]["parameters"] == sum(p.numel() for p in rebuilt.parameters())
    assert metrics["search_seconds"] == 1.0


def test_a_second_search_with_more_trials_continues_the_study(tmp_path):
    samples, images = _fer_table(), _images(68)
    report, trials, spec = experiment.run_search(
        images, samples, CLASSES, _params(tmp_path), AugmentationConfig()
    )
    assert report["trials"] == 1 and list(trials["number"]) == [0]
    more = _params(tmp_path, study={**_params(tmp_path).study.model_dump(), "n_trials": 2})
    report, trials, spec = experiment.run_search(
        images, samples, CLASSES, more, AugmentationConfig()
    )
    assert list(trials["number"]) == [0, 1] and set(trials["state"]) == {"COMPLETE"}
    assert report["this_run"]["finished_before"] == 1 and report["this_run"]["finished_after"] == 2
    best = trials.loc[trials["value"].idxmin()]
    assert spec["provenance"]["trial"] == best["number"] == report["best"]["number"]
    assert spec["width_coefficient"] in (0.2, 0.25) and spec["top_filters"] in (16, 24)
    assert {"val_accuracy", "best_epoch", "stop_epoch", "parameters"} <= set(trials.columns)
    assert build_model(spec).eval()(torch.zeros(1, 1, 16, 16)).shape == (1, 7)


def test_grid_noise_does_not_change_the_rounded_depth():
    spec = experiment.configured_spec(
        {"width_coefficient": 0.5, "depth_coefficient": 0.6000000000000001, "top_filters": 16,
         "dropout": 0.1},
        1, 7, "full", 0.2,
    )  # fmt: skip
    assert spec["depth_coefficient"] == 0.6
    assert len(build_model(spec).features[6]) == 9  # ceil(15 * 0.6), not 10


def test_the_comparisons_share_data_and_differ_in_one_factor(tmp_path):
    samples = _fer_table()
    best = {"width_coefficient": 0.2, "depth_coefficient": 0.2, "top_filters": 16, "dropout": 0.0}
    report = {"best": {"params": {"lr": 1e-3, **best}}}
    scaling, weighting = comparisons.run_comparisons(
        _images(len(samples)), samples, CLASSES, {}, report, _params(tmp_path),
        AugmentationConfig(),
    )  # fmt: skip
    assert list(scaling["variant"]) == ["scaled_down", "full"]
    assert list(weighting["weighted_loss"]) == [True, False]
    assert scaling.loc[0].to_dict() == weighting.loc[0].to_dict()  # one shared reference arm
    assert scaling["parameters"][1] > scaling["parameters"][0]
    for table in (scaling, weighting):
        assert set(table["train_images"]) == {21} and set(table["test_images"]) == {14}
        assert set(table["minority_class"]) == {"disgust"}
    figure = comparisons.loss_weighting_figure(weighting, CLASSES)
    assert figure.axes and comparisons.scaling_figure(scaling).axes

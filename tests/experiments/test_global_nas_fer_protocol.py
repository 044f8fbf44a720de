"""The protocol of global_nas_fer: no test row reaches a decision (the candidates see Training
and PublicTest only; the final and random networks train on a fold's training side and are
tested once on its test side), RI, the input downscaling, and a short real search."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_efficientnet_fer_protocol import CLASSES, _fer_table, _images, _kfold_table, _rows_of
from torch import nn

from expression_nas.experiments import global_nas_baseline as baseline
from expression_nas.experiments import global_nas_fer as experiment
from expression_nas.experiments.library_configs import global_space
from expression_nas.models.global_net import count_global_parameters
from expression_nas.models.registry import build_model
from expression_nas.nas.global_nas.drawing import trajectory_figure
from expression_nas.parameters import GlobalNasFerParams

pytestmark = pytest.mark.usefixtures("single_torch_thread")
TINY_PRESET = {
    "min_depth": 2,
    "max_depth": 4,
    "min_width": 4,
    "max_width": 8,
    "width_step": 2,
    "macro_epochs": 1,
    "micro_epochs": 1,
    "param_tolerance": 100,
}


def _params(tmp_path, **overrides) -> GlobalNasFerParams:
    settings = {
        "presets": {"demo": TINY_PRESET},
        "input_size": None,
        "search_training": {
            "batch_size": 16,
            "max_train_images": 21,
            "cache_dir": str(tmp_path / "cache" / "{pipeline}"),
        },
        "final_training": {"batch_size": 16, "epochs": 1},
        "random_baseline": {"architectures": 3},
        "evaluation": {
            "toy_fer": {"protocol": "standard_split"},
            "toy_ckplus": {"protocol": "kfold", "k": 2},
        },
    }
    return GlobalNasFerParams.model_validate(settings | overrides)


class _Constant(nn.Module):
    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images), self.n_classes)


@pytest.fixture
def recorded(monkeypatch):
    """Every training the experiments start: the rows it trains on and validates on."""
    seen = []

    def fake_train(spec, train, epochs, training, seed, device, validation=None, on_epoch=None):
        validation_rows = set() if validation is None else _rows_of(validation.images)
        seen.append((_rows_of(train.images), validation_rows))
        rng = np.random.default_rng(len(seen))
        history = [
            {"epoch": e, "train_loss": 1.0, "train_accuracy": 50.0, "val_accuracy": rng.uniform()}
            for e in range(1, epochs + 1)
        ]
        return _Constant(spec["num_classes"]), history

    monkeypatch.setattr(experiment, "train_network", fake_train)
    return seen


def test_the_search_decides_on_training_and_publictest_rows_only(tmp_path, recorded):
    samples = _fer_table()
    report, candidates, spec = experiment.run_search(
        _images(len(samples)), samples, CLASSES, "toy_fer", _params(tmp_path), "toy"
    )
    usage = samples["usage"].to_numpy()
    assert len(recorded) == report["counts"]["trainings"] == len(candidates)
    for train, validation in recorded:
        assert len(train) == 21 and set(usage[sorted(train)]) == {"Training"}
        assert validation == set(np.flatnonzero(usage == "PublicTest"))
    assert report["validation_split"] == "PublicTest" and spec["family"] == "global"
    assert report["train_images"] == 21 and report["validation_images"] == 14
    counts = report["counts"]
    assert counts["evaluated"] == counts["grow"] + counts["prune"] + 2 * counts["final_depth"]
    figure = trajectory_figure(candidates)
    assert len(figure.axes) == 3


def test_a_kfold_corpus_cannot_be_the_search_corpus(tmp_path):
    samples = _kfold_table()
    with pytest.raises(ValueError, match="needs a validation split of its own"):
        experiment.candidate_trainer(_images(48), samples, "toy_ckplus", _params(tmp_path))


@pytest.mark.parametrize("corpus", ["toy_fer", "toy_ckplus"])
def test_final_and_random_networks_are_tested_once_on_unseen_rows(tmp_path, recorded, corpus):
    samples = _fer_table() if corpus == "toy_fer" else _kfold_table()
    classes = CLASSES if corpus == "toy_fer" else CLASSES[:3]
    images, params = _images(len(samples)), _params(tmp_path)
    spec = global_space(params.bounds, 1, 7).macro_spec(4, 2)
    report = {"search_seconds": 2.0, "search_hours": 2.0 / 3600, "search_device": "cpu"}
    predictions, metrics, _ = experiment.evaluate_corpus(
        images, samples, classes, corpus, spec, report, params
    )
    table, ri = baseline.run_random_baseline(images, samples, classes, corpus, metrics, params)
    trainings_per_network = 1 if corpus == "toy_fer" else 2
    assert len(recorded) == (1 + 3) * trainings_per_network
    expected = samples if corpus == "toy_ckplus" else samples[samples["usage"] == "PrivateTest"]
    assert sorted(predictions["sample_id"]) == sorted(expected["sample_id"])
    subjects, usage = samples["subject"].to_numpy(), samples.get("usage")
    folds = list(predictions.groupby("fold"))
    for index, (train, validation) in enumerate(recorded):
        _, fold = folds[index % trainings_per_network]
        tested = set(np.flatnonzero(samples["sample_id"].isin(fold["sample_id"])))
        assert not validation and not train & tested
        assert not set(subjects[sorted(train)]) & set(fold["subject"])
        if usage is not None:
            assert set(usage[sorted(train)]) == {"Training"}
    assert metrics["costs"]["parameters"] == count_global_parameters(
        {**spec, "num_classes": len(classes)}
    )
    assert len(table) == 3 and ri["random_n"] == 3
    assert ri["found_accuracy"] == pytest.approx(100 * metrics["accuracy"])


def test_relative_improvement():
    ri = baseline.relative_improvement(60.0, [50.0, 40.0])
    assert ri["ri"] == pytest.approx(100 * 15 / 45)
    assert (ri["random_mean"], ri["random_n"]) == (45.0, 2)
    assert ri["random_std"] == pytest.approx(np.std([50.0, 40.0], ddof=1))
    assert baseline.relative_improvement(45.0, [45.0])["ri"] == 0.0
    assert baseline.relative_improvement(40.0, [50.0])["ri"] == pytest.approx(-20.0)
    with pytest.raises(ValueError):
        baseline.relative_improvement(40.0, [])


def test_random_architectures_are_drawn_from_the_preset_space(tmp_path):
    params = _params(tmp_path, random_baseline={"architectures": 20, "seed": 4})
    specs = baseline.random_architectures(params, 1, 7)
    assert specs == baseline.random_architectures(params, 1, 7)  # seeded
    assert {s["depth"] for s in specs} <= {2, 3, 4} and {s["width"] for s in specs} <= {4, 6, 8}
    assert len({str(s["layers"]) for s in specs}) > 10


def test_downscale_averages_blocks():
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    small = experiment.downscale(images, 2)
    assert small.dtype == np.uint8 and small.shape == (2, 2, 2)
    assert small[0, 0, 0] == round(np.mean([0, 1, 4, 5]))
    colour = np.stack([images] * 3, axis=-1)
    assert experiment.downscale(colour, 2).shape == (2, 2, 2, 3)
    assert experiment.downscale(images, None) is images


def test_a_real_candidate_trains_and_scores_on_the_validation_split(tmp_path):
    samples = _fer_table()
    params = _params(tmp_path, input_size=8)
    trainer = experiment.candidate_trainer(_images(len(samples)), samples, "toy_fer", params)
    assert trainer.train.images.shape[1:] == (8, 8)
    spec = global_space(params.bounds, 1, 7).macro_spec(4, 2)
    outcome = trainer(spec, 2, 0)
    assert len(outcome.history) == 2 and outcome.seconds > 0
    assert outcome.score == max(r["val_accuracy"] for r in outcome.history)
    assert 0 <= outcome.score <= 100 and 0 <= outcome.train_accuracy <= 100
    assert trainer(spec, 2, 0).score == outcome.score  # seeded: the same score again
    assert (
        trainer.context()
        == experiment.candidate_trainer(_images(len(samples)), samples, "toy_fer", params).context()
    )
    assert build_model(spec)(torch.zeros(1, 1, 8, 8)).shape == (1, 7)

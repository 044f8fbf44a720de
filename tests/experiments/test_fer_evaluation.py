import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient
from torch import nn

from expression_nas.experiments.fer_evaluation import (
    class_weights,
    confusion_figure,
    evaluate_fer,
    fer_folds,
    summarize_fer,
)
from expression_nas.training import OptimizerConfig

SIDE = 8
CLASSES = ["anger", "happy", "sadness"]
USAGES = ("Training", "PublicTest", "PrivateTest")


def _corpus(
    n_subjects: int, per_subject: int, with_usage: bool = False, seed: int = 0
) -> tuple[np.ndarray, pd.DataFrame]:
    """Images whose brightness is their class, and whose pixel (0, 0) is their row number
    (pixel (0, 1) is the copy number: 0 for originals), so a model can tell what it was fed."""
    rng = np.random.default_rng(seed)
    n = n_subjects * per_subject
    labels = np.arange(n) % len(CLASSES)
    levels = np.array([30, 128, 225])[labels]
    noise = rng.integers(-20, 21, size=(n, SIDE, SIDE))
    images = np.clip(levels[:, None, None] + noise, 0, 255).astype(np.uint8)
    images[:, 0, 0] = np.arange(n)
    images[:, 0, 1] = 0
    samples = pd.DataFrame(
        {
            "dataset": "toy",
            "subject": [f"s{row // per_subject}" for row in range(n)],
            "sample_id": [f"row{row:03d}" for row in range(n)],
            "label_index": labels,
        }
    )
    if with_usage:
        samples["usage"] = [USAGES[row % 3] for row in range(n)]
    return images, samples


def _augment(images: np.ndarray, samples: pd.DataFrame, copies: int):
    """Originals (copy 0) plus ``copies`` jittered copies of every row, marked in pixel (0, 1)."""
    plan = [(row, copy) for copy in range(copies + 1) for row in range(len(samples))]
    augmented = images[[row for row, _ in plan]].copy()
    for position, (_, copy) in enumerate(plan):
        if copy:
            augmented[position, 1:] = np.clip(augmented[position, 1:].astype(int) + copy, 0, 255)
            augmented[position, 0, 1] = copy
    table = samples.iloc[[row for row, _ in plan]].reset_index(drop=True)
    table["source_row"] = [row for row, _ in plan]
    table["copy"] = [copy for _, copy in plan]
    return augmented, table


class RecordingModel(nn.Module):
    """Flatten + Linear that records the row and copy codes of every image it is fed."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, n_classes))
        self.trained: set[tuple[int, int]] = set()
        self.tested: set[tuple[int, int]] = set()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        codes = torch.round(inputs[:, 0, 0, :2] * 255).long().tolist()
        (self.trained if self.training else self.tested).update(map(tuple, codes))
        return self.classifier(inputs)


QUICK = OptimizerConfig(lr=0.05, epochs=1, batch_size=16)


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_standard_split_trains_on_training_and_tests_on_private_test_only():
    _, samples = _corpus(1, 30, with_usage=True)
    (fold,) = fer_folds(samples, "standard_split")
    usage = samples["usage"].to_numpy()
    assert fold.test_subject == "PrivateTest"
    assert fold.train_rows.tolist() == np.flatnonzero(usage == "Training").tolist()
    assert fold.test_rows.tolist() == np.flatnonzero(usage == "PrivateTest").tolist()
    with pytest.raises(ValueError, match="'usage' column"):
        fer_folds(samples.drop(columns="usage"), "standard_split")
    with pytest.raises(ValueError, match="PrivateTest"):
        fer_folds(samples[samples["usage"] != "PrivateTest"], "standard_split")
    with pytest.raises(ValueError, match="unknown FER protocol"):
        fer_folds(samples, "loso")


def test_kfold_tests_every_subject_once_and_keeps_folds_person_independent():
    _, samples = _corpus(7, 3)
    subjects = samples["subject"].to_numpy()
    folds = fer_folds(samples, "kfold", k=3, seed=1)
    assert [fold.test_subject for fold in folds] == ["fold0", "fold1", "fold2"]
    tested = np.concatenate([fold.test_rows for fold in folds])
    assert sorted(tested.tolist()) == list(range(len(samples)))  # every image tested once
    for fold in folds:
        assert not set(subjects[fold.train_rows]) & set(subjects[fold.test_rows])
        assert len(fold.train_rows) + len(fold.test_rows) == len(samples)
    with pytest.raises(ValueError, match="at least k subjects"):
        fer_folds(samples, "kfold", k=8)


@pytest.mark.parametrize("protocol", ["standard_split", "kfold"])
def test_augmented_training_never_sees_the_test_side(protocol):
    images, samples = _corpus(6, 10, with_usage=True)
    augmented = _augment(images, samples, copies=2)
    models: list[RecordingModel] = []

    def build_model(n_classes: int) -> RecordingModel:
        models.append(RecordingModel(n_classes))
        return models[-1]

    predictions = evaluate_fer(
        images,
        samples,
        build_model,
        CLASSES,
        protocol=protocol,
        k=3,
        training=QUICK,
        augmented=augmented,
    )
    folds = fer_folds(samples, protocol, k=3)
    assert len(models) == len(folds)
    for fold, model in zip(folds, models, strict=True):
        trained_rows = {row for row, _ in model.trained}
        assert not trained_rows & set(fold.test_rows.tolist())  # no test row, nor its copies
        assert trained_rows == set(fold.train_rows.tolist())
        assert {copy for _, copy in model.trained} == {0, 1, 2}  # copies are trained on
        assert model.tested == {(row, 0) for row in fold.test_rows.tolist()}  # originals only
        in_fold = predictions[predictions["fold"] == fold.test_subject]
        assert in_fold["sample_id"].tolist() == samples["sample_id"][fold.test_rows].tolist()
    if protocol == "standard_split":
        assert set(samples.set_index("sample_id")["usage"][predictions["sample_id"]]) == {
            "PrivateTest"
        }
    assert predictions["sample_id"].is_unique
    assert list(predictions.columns) == ["sample_id", "subject", "fold", "y_true", "y_pred"]


def test_balanced_class_weights_follow_n_over_k_times_n_c():
    labels = [0] * 6 + [1] * 3 + [2]
    weights = class_weights(labels, n_classes=4)
    n, k = 10, 3  # class 3 is absent: weight 0, and k counts the present classes
    assert np.allclose(weights, [n / (k * 6), n / (k * 3), n / (k * 1), 0.0])
    with pytest.raises(ValueError, match=r"0\.\.3"):
        class_weights([4], n_classes=4)


def test_toy_brightness_classes_are_learned_and_summarised():
    images, samples = _corpus(6, 20, seed=3)

    def build_model(n_classes: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, n_classes))

    def run() -> pd.DataFrame:
        return evaluate_fer(
            images,
            samples,
            build_model,
            CLASSES,
            protocol="kfold",
            k=3,
            seed=0,
            training=OptimizerConfig(lr=0.05, epochs=15, batch_size=16),
            weighted_loss=True,
        )

    predictions = run()
    pd.testing.assert_frame_equal(predictions, run())  # seeded: deterministic
    summary = summarize_fer(predictions, CLASSES)
    assert summary["n"] == len(samples)
    assert summary["accuracy"] > 0.9
    assert summary["uar"] > 0.9 and summary["uf1"] > 0.9
    assert set(summary["per_class"]) == set(CLASSES)
    assert summary["per_class"]["happy"]["support"] == 40
    assert set(summary["fold_accuracy"]) == {"fold0", "fold1", "fold2"}
    assert summary["fold_accuracy_mean"] == pytest.approx(
        np.mean(list(summary["fold_accuracy"].values()))
    )
    assert summary["fold_accuracy_std"] >= 0.0
    assert isinstance(confusion_figure(predictions, CLASSES, "toy"), Figure)


def _linear_classifier(n_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, n_classes))


def test_folds_trained_side_by_side_equal_those_trained_here_and_are_logged(mlflow_experiment):
    """Two workers give the predictions of one process (both on one torch thread), and each
    fold's run holds its class weights, every epoch's training loss and its accuracy."""
    images, samples = _corpus(6, 6, seed=3)
    training = OptimizerConfig(lr=0.05, epochs=3, batch_size=16)
    results = {}
    for workers in (1, 2):
        with mlflow.start_run(run_name=f"workers {workers}"):
            results[workers] = evaluate_fer(
                images,
                samples,
                _linear_classifier,
                CLASSES,
                protocol="kfold",
                k=3,
                training=training,
                weighted_loss=True,
                log_models=True,
                workers=workers,
            )
    pd.testing.assert_frame_equal(results[2], results[1])
    client = MlflowClient()
    folds = mlflow.search_runs([mlflow_experiment], "tags.kind = 'fold'", output_format="list")
    assert len(folds) == 6
    for run in folds:
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert [m.step for m in history] == [1, 2, 3]
        assert "class_weights" in run.data.params and "fold_accuracy" in run.data.metrics
    logged = mlflow.search_logged_models(experiment_ids=[mlflow_experiment], output_format="list")
    assert len(logged) == 6

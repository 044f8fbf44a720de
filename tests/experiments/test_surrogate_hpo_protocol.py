"""The surrogate_hpo_fer protocol: which rows each search and training sees (a leak guard),
the report rows and what they tune."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from expression_nas.experiments import surrogate_hpo_fer as experiment
from expression_nas.hpo.sparseness import SparsenessSetting
from expression_nas.parameters import SurrogateHpoFerParams

SIDE = 16


def _corpus(usage: bool) -> tuple[np.ndarray, pd.DataFrame]:
    """Each image is filled with its own row number, so a split shows which rows it holds."""
    n = 60
    images = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None], SIDE * SIDE, axis=1)
    samples = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "subject": [f"p{i % 6}" for i in range(n)],
            "label_index": np.arange(n) % 3,
        }
    )
    if usage:
        samples["usage"] = np.where(
            np.arange(n) < 40, "Training", np.where(np.arange(n) < 50, "PublicTest", "PrivateTest")
        )
    return images.reshape(n, SIDE, SIDE), samples


def test_fer2013_searches_score_on_public_test_and_only_the_final_network_sees_private_test():
    _, samples = _corpus(usage=True)
    (plan,) = experiment.plan_folds(samples, "standard_split", 10, 0, 0.25)
    usage = samples["usage"].to_numpy()
    assert set(usage[plan.search_train]) == set(usage[plan.final_train]) == {"Training"}
    assert set(usage[plan.search_validation]) == {"PublicTest"}
    assert set(usage[plan.test]) == {"PrivateTest"} and len(plan.test) == 10


def test_kfold_searches_never_see_a_test_subject():
    _, samples = _corpus(usage=False)
    subjects = samples["subject"].to_numpy()
    plans = experiment.plan_folds(samples, "kfold", 3, 0, 0.34)
    assert sorted(np.concatenate([p.test for p in plans]).tolist()) == list(range(60))
    for plan in plans:
        tested = set(subjects[plan.test])
        searched = set(subjects[plan.search_train]) | set(subjects[plan.search_validation])
        assert not tested & searched
        assert not set(subjects[plan.search_train]) & set(subjects[plan.search_validation])
        assert set(plan.final_train) == set(plan.search_train) | set(plan.search_validation)


@pytest.mark.parametrize("protocol", ["standard_split", "kfold"])
def test_no_test_row_reaches_a_search_or_its_fold_s_final_training(monkeypatch, protocol):
    images, samples = _corpus(usage=protocol == "standard_split")
    searched, trained = [], []  # per fold, in the order the folds run

    def rows_of(split):
        return set(np.rint(split.images[:, 0, 0, 0].numpy() * 255).astype(int).tolist())

    def recording_choice(method, spec, train, validation, params, checkpoint):
        searched.append(rows_of(train) | rows_of(validation))
        return SparsenessSetting(), {"evaluations": 0, "original_trainings": 0}

    def recording_training(spec, setting, train, test, params, repeat):
        trained.append(rows_of(train))
        return np.zeros(len(test.labels), dtype=np.int64), None

    monkeypatch.setattr(experiment, "choose_setting", recording_choice)
    monkeypatch.setattr(experiment, "train_and_test", recording_training)
    params = SurrogateHpoFerParams.model_validate(
        {
            "network": {"input_size": SIDE},
            "evaluation": {"tiny": {"protocol": protocol, "k": 3, "methods": ["pso_all"]}},
        }
    )
    report, predictions, _ = experiment.run_corpus(images, samples, ["a", "b", "c"], "tiny", params)
    folds = list(dict.fromkeys(predictions["fold"]))
    assert len(folds) == len(searched) == len(trained) == (1 if protocol == "standard_split" else 3)
    for fold, search_rows, train_rows in zip(folds, searched, trained, strict=True):
        tested = set(predictions.loc[predictions["fold"] == fold, "sample_id"].str[1:].astype(int))
        assert tested and not tested & search_rows and not tested & train_rows
    assert report["n_test"].iloc[0] == len(predictions)


def test_each_row_tunes_its_group_and_resnet20_only_z_and_v():
    assert experiment.method_group("pso_lambda", "lenet") == (
        "lambda_z",
        "lambda_V",
        "lambda_x",
        "lambda_W",
    )
    assert experiment.method_group("de_dropout", "lenet") == ("p_z", "p_V", "p_x", "p_W")
    assert experiment.method_group("de_all", "resnet20") == ("lambda_z", "lambda_V", "p_z", "p_V")
    params = SurrogateHpoFerParams()
    setting, cost = experiment.choose_setting(
        "defaults_dropout", {"backbone": "lenet"}, None, None, params, None
    )
    assert setting == SparsenessSetting(p_z=0.5, p_V=0.5, p_x=0.5, p_W=0.5)
    assert cost["evaluations"] == 0
    baseline, _ = experiment.choose_setting(
        "baseline", {"backbone": "lenet"}, None, None, params, None
    )
    assert baseline == SparsenessSetting()


def test_the_cost_comparison_puts_each_network_beside_its_surrogate():
    table = experiment.cost_comparison([("resnet20", 28)], batch_size=4, steps=1)
    original, surrogate = (table[table["part"] == p].iloc[0] for p in ("original", "surrogate"))
    assert original["trunk_macs"] == pytest.approx(3.1e7, rel=0.05)
    assert surrogate["trunk_macs"] == pytest.approx(1.14e5, rel=0.05)
    assert original["trunk_macs_ratio"] == pytest.approx(
        original["trunk_macs"] / surrogate["trunk_macs"]
    )
    assert original["train_step_ms_per_sample"] > 0


def test_a_diverged_final_training_keeps_its_row_and_counts_as_wrong(monkeypatch):
    images, samples = _corpus(usage=False)
    trainings = iter(range(100))

    def first_fold_diverges(spec, setting, train, test, params, repeat):
        if next(trainings) == 0:
            raise FloatingPointError("non-finite loss at iteration 3")
        return test.labels.numpy(), None  # every other fold predicts perfectly

    monkeypatch.setattr(
        experiment,
        "choose_setting",
        lambda *args: (SparsenessSetting(), {"evaluations": 0, "original_trainings": 0}),
    )
    monkeypatch.setattr(experiment, "train_and_test", first_fold_diverges)
    params = SurrogateHpoFerParams.model_validate(
        {
            "network": {"input_size": SIDE},
            "evaluation": {"tiny": {"protocol": "kfold", "k": 3, "methods": ["defaults_all"]}},
        }
    )
    report, predictions, _ = experiment.run_corpus(images, samples, ["a", "b", "c"], "tiny", params)
    (row,) = report.to_dict("records")
    assert row["diverged_trainings"] == 1
    first_fold = predictions["fold"] == predictions["fold"].iloc[0]
    assert (predictions.loc[first_fold, "y_pred"] == -1).all()
    assert row["accuracy"] == pytest.approx(1 - first_fold.mean())

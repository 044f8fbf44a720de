import numpy as np
import pandas as pd
import pytest

from expression_nas.experiments import darts_fer as darts_experiment
from expression_nas.experiments.darts_fer import comparison_table, final_spec, search_split
from expression_nas.parameters.darts_fer import DartsFerParams, FinalNetworkParams

GENOTYPE = {
    "normal": [
        [["sep_conv_3x3", 0], ["skip_connect", 1]],
        [["max_pool_3x3", 0], ["dil_conv_3x3", 2]],
    ],
    "reduce": [
        [["avg_pool_3x3", 0], ["sep_conv_5x5", 1]],
        [["skip_connect", 1], ["sep_conv_3x3", 2]],
    ],
}
SEARCHED = {
    "schema_version": 1,
    "family": "darts",
    "in_channels": 1,
    "num_classes": 7,
    "input_size": [48, 48],
    "channels": 4,
    "layers": 3,
    "nodes": 2,
    "stem_multiplier": 3,
    "genotype": GENOTYPE,
    "dropout": 0.2,
    "cell_dropout": 0.1,
}


def _fer_table() -> pd.DataFrame:
    usage = ["Training"] * 20 + ["PublicTest"] * 5 + ["PrivateTest"] * 5
    return pd.DataFrame({"usage": usage, "label_index": np.arange(30) % 7})


def test_search_split_uses_the_training_split_only_and_halves_it():
    samples = _fer_table()
    split = search_split(samples, seed=0, train_portion=0.5)
    assert len(split["train"]) == 10 and len(split["val"]) == 10
    assert not set(split["train"]) & set(split["val"])
    assert set(samples["usage"].iloc[split["train"] + split["val"]]) == {"Training"}
    assert split == search_split(samples, seed=0, train_portion=0.5)
    assert split != search_split(samples, seed=1, train_portion=0.5)


def test_search_split_can_take_a_class_stratified_subset_of_the_training_split():
    samples = _fer_table()
    split = search_split(samples, seed=0, train_portion=0.5, max_images=14)
    rows = split["train"] + split["val"]
    assert len(rows) == len(set(rows)) == 14
    assert set(samples["usage"].iloc[rows]) == {"Training"}
    assert sorted(np.bincount(samples["label_index"].iloc[rows], minlength=7)) == [2] * 7
    assert split == search_split(samples, seed=0, train_portion=0.5, max_images=14)
    assert search_split(samples, seed=0, train_portion=0.5, max_images=100) == search_split(
        samples, seed=0, train_portion=0.5
    )


def test_search_split_refuses_a_corpus_without_a_standard_split():
    with pytest.raises(ValueError, match="usage"):
        search_split(pd.DataFrame({"label_index": [0, 1]}), seed=0, train_portion=0.5)
    with pytest.raises(ValueError, match="train_portion"):
        search_split(_fer_table(), seed=0, train_portion=1.0)


def test_final_spec_resizes_the_network_and_keeps_the_cells():
    network = FinalNetworkParams(channels=36, layers=20, dropout=None)
    spec = final_spec(SEARCHED, network, 8, 3)
    assert (spec["channels"], spec["layers"], spec["num_classes"], spec["in_channels"]) == (
        36,
        20,
        8,
        3,
    )
    assert spec["genotype"] == GENOTYPE and spec["dropout"] == 0.2  # null keeps the tuned rate
    assert final_spec(SEARCHED, FinalNetworkParams(), 7, 1)["dropout"] == 0
    assert SEARCHED["channels"] == 4  # the searched spec is not modified


def test_comparison_table_has_one_row_per_method_and_corpus():
    def result(accuracy):
        return {
            "protocol": "kfold",
            "n": 10,
            "accuracy": accuracy,
            "uar": accuracy,
            "uf1": accuracy,
            "fold_accuracy_std": 0.1,
            "costs": {"parameters": 100, "flops": 1000},
        }

    summaries = [
        {
            "strategy": "darts",
            "search_seconds": 5.0,
            "corpora": {"a": result(0.5), "b": result(0.6)},
        },
        {"strategy": "darts_stn", "search_seconds": 7.0, "corpora": {"a": result(0.7)}},
    ]
    table = comparison_table(summaries)
    assert table[["method", "corpus"]].values.tolist() == [
        ["darts", "a"],
        ["darts", "b"],
        ["darts_stn", "a"],
    ]
    assert table["accuracy"].tolist() == [0.5, 0.6, 0.7]
    assert table["search_seconds"].tolist() == [5.0, 5.0, 7.0]


@pytest.mark.parametrize(
    ("corpus_settings", "trained"),
    [({}, (7, 32)), ({"epochs": 2}, (2, 32)), ({"epochs": 2, "batch_size": 4}, (2, 4))],
)
def test_a_corpus_can_train_with_its_own_epochs_and_batch_size(
    monkeypatch, corpus_settings, trained
):
    seen = {}

    def recording_evaluation(images, samples, build, classes, *, training, **kwargs):
        seen["settings"] = (training.epochs, training.batch_size)
        return pd.DataFrame(
            {"sample_id": ["a"], "subject": ["s"], "fold": ["f"], "y_true": [0], "y_pred": [0]}
        )

    monkeypatch.setattr(darts_experiment, "evaluate_fer", recording_evaluation)
    params = DartsFerParams.model_validate(
        {
            "training": {"epochs": 7, "batch_size": 32, "log_models": False},
            "evaluation": {"tiny": {"protocol": "kfold", "k": 2, **corpus_settings}},
        }
    )
    images = np.zeros((1, 8, 8), dtype=np.uint8)
    darts_experiment.evaluate_corpus(
        images, pd.DataFrame(), None, SEARCHED, params, ["a", "b"], "tiny", "darts", 1.0
    )
    assert seen["settings"] == trained

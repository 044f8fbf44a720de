"""The cross-database protocol on toy corpora whose image brightness is the expression (by its
canonical name), so that a network trained on one corpus recognises the other's images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from expression_nas.evaluation import rotation_scores
from expression_nas.experiments import cross_database
from expression_nas.experiments.cross_database import (
    NOT_IN_FOLDS,
    CorpusData,
    architecture_template,
    corpus_pairs,
    evaluate_pairs,
    matrices_figure,
    plan_pairs,
    score_matrix,
    target_material,
    training_material,
)
from expression_nas.nas.spec import save_spec
from expression_nas.parameters import CrossDatabaseParams

pytestmark = pytest.mark.usefixtures("single_torch_thread")

BRIGHTNESS = {"anger": 20, "happy": 90, "sadness": 160, "neutral": 230, "contempt": 55}
CANONICAL = {"angry": "anger", "sad": "sadness", "happiness": "happy"}
TINY = {
    "device": "cpu",
    "architecture": {"spec": {"schema_version": 1, "family": "plain_cnn", "channels": [4]}},
    "training": {"epochs": 6, "batch_size": 8, "lr": 0.05},
    "target_fold": {"folds": 2},
}
EPOCHS = tuple(range(1, TINY["training"]["epochs"] + 1))


def _corpus(name: str, classes: tuple[str, ...], subjects: int, usage: bool = False):
    """Two images per subject and class; FER2013-like (``usage``): one unknown subject, every
    third image PrivateTest, the others Training."""
    rng = np.random.default_rng(len(name))
    rows = [(s, c) for s in range(subjects) for c in range(len(classes)) for _ in range(2)]
    levels = [BRIGHTNESS.get(CANONICAL.get(classes[c], classes[c]), 128) for _, c in rows]
    noise = rng.integers(-8, 9, size=(len(rows), 8, 8))
    images = np.clip(np.array(levels)[:, None, None] + noise, 0, 255).astype(np.uint8)
    samples = pd.DataFrame(
        {
            "sample_id": [f"{name}{i:03d}" for i in range(len(rows))],
            "subject": ["unknown" if usage else f"{name}_s{s}" for s, _ in rows],
            "label_index": [c for _, c in rows],
        }
    )
    if usage:
        samples["usage"] = np.where(np.arange(len(rows)) % 3 == 0, "PrivateTest", "Training")
    return CorpusData(name, images, samples, classes)


FER = _corpus("fer", ("angry", "happy", "sad", "neutral"), subjects=6, usage=True)
CK = _corpus("ck", ("neutral", "anger", "contempt", "happy", "sadness"), subjects=4)
JF = _corpus("jf", ("anger", "happy", "neutral", "sadness"), subjects=4)
ODD = _corpus("odd", ("happiness", "other"), subjects=2)
CORPORA = (FER, CK, JF, ODD)


@pytest.fixture(scope="module")
def evaluated():
    trainings = []
    original = cross_database.train_network

    def counting(*args, **kwargs):
        trainings.append(args[1].samples["label_index"].nunique())
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cross_database, "train_network", counting)
        spec = architecture_template(CrossDatabaseParams.model_validate(TINY).architecture)
        scores, predictions = evaluate_pairs(
            CORPORA, spec, CrossDatabaseParams.model_validate(TINY)
        )
    return scores, predictions, trainings


def _row(scores: pd.DataFrame, train: str, test: str, protocol: str) -> pd.Series:
    match = scores[
        (scores.train_corpus == train)
        & (scores.test_corpus == test)
        & (scores.protocol == protocol)
    ]
    assert len(match) == 1
    return match.iloc[0]


def test_every_ordered_pair_of_distinct_corpora():
    assert corpus_pairs(["a", "b", "c"]) == [
        ("a", "b"), ("a", "c"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "b"),
    ]  # fmt: skip


def test_training_and_target_material_follow_the_usage_column():
    assert training_material(FER.samples).sum() == (FER.samples.usage == "Training").sum()
    assert (
        target_material(FER.samples, ["PrivateTest"]).sum()
        == (FER.samples.usage == "PrivateTest").sum()
    )
    assert training_material(CK.samples).all() and target_material(CK.samples, ["x"]).all()


def test_the_long_table_names_common_dropped_and_skipped(evaluated):
    scores, _, _ = evaluated
    assert len(scores) == 12 * 2 and list(scores.columns) == list(cross_database.SCORE_COLUMNS)
    row = _row(scores, "fer", "ck", "direct")
    assert row.common_classes == "anger, happy, neutral, sadness"
    assert (row.dropped_train_classes, row.dropped_test_classes) == ("", "contempt")
    assert row.skipped_reason == "" and row.n_test == 4 * 4 * 2  # CK+ without contempt
    assert row.n_train == (FER.samples.usage == "Training").sum()
    for protocol in ("direct", "target_fold"):
        skipped = _row(scores, "odd", "ck", protocol)
        assert skipped.skipped_reason == "fewer than two common classes (happy)"
        assert np.isnan(skipped.accuracy) and skipped.dropped_train_classes == "other"


def test_one_training_per_training_corpus_and_class_list(evaluated):
    _, _, trainings = evaluated
    assert trainings == [4, 4, 4]  # fer, ck and jf, each for both of its test corpora


def test_the_network_trained_on_one_corpus_recognises_the_other(evaluated):
    scores, _, _ = evaluated
    scored = scores[scores.skipped_reason == ""]
    assert len(scored) == 6 * 2
    # chance is 0.25 on the four common classes
    assert (scored.accuracy > 0.5).all(), scored[["train_corpus", "test_corpus", "accuracy"]]


def test_scores_are_those_of_the_kept_predictions(evaluated):
    scores, predictions, _ = evaluated
    for (train, test), part in predictions.groupby(["train_corpus", "test_corpus"]):
        assert tuple(sorted(part.epoch.unique())) == EPOCHS
        last = part[part.epoch == EPOCHS[-1]]
        direct = _row(scores, train, test, "direct")
        assert direct.accuracy == pytest.approx((last.y_true == last.y_pred).mean())
        assert direct.n_test == len(last) and direct.epochs == str(EPOCHS[-1])
        in_folds = part[part.target_fold != NOT_IN_FOLDS].sort_values(["epoch", "sample_id"])
        n = in_folds.sample_id.nunique()
        rotations = rotation_scores(
            in_folds.y_pred.to_numpy().reshape(len(EPOCHS), n),
            in_folds.y_true.to_numpy()[:n],
            in_folds.target_fold.to_numpy()[:n],
            n_classes=4,
            epochs=EPOCHS,
        )
        folded = _row(scores, train, test, "target_fold")
        assert folded.accuracy == pytest.approx(rotations.accuracy.mean())
        assert folded.epochs == " ".join(map(str, rotations.epoch)) and folded.n_test == n
    ck_tested = predictions[predictions.test_corpus == "ck"]
    contempt = set(CK.samples.sample_id[CK.samples.label_index == 2])
    assert not contempt & set(ck_tested.sample_id)
    # FER2013 as the test corpus: its PrivateTest images in the folds, predicted after every
    # epoch; every image in direct, predicted after the last
    fer_tested = predictions[predictions.test_corpus == "fer"]
    private = set(FER.samples.sample_id[FER.samples.usage == "PrivateTest"])
    for epoch in EPOCHS[:-1]:
        assert set(fer_tested.sample_id[fer_tested.epoch == epoch]) == private
    last = fer_tested[fer_tested.epoch == EPOCHS[-1]]
    assert set(last.sample_id) == set(FER.samples.sample_id)
    assert set(last.sample_id[last.target_fold != NOT_IN_FOLDS]) == private


def test_too_few_subjects_for_the_folds_stop_before_any_training(monkeypatch):
    monkeypatch.setattr(cross_database, "train_network", pytest.fail)
    params = CrossDatabaseParams.model_validate({**TINY, "target_fold": {"folds": 5}})
    with pytest.raises(
        ValueError, match=r"target_fold on ck .*lower cross_database\.target_fold\.folds"
    ):
        plan_pairs((FER, CK), params)


def test_direct_alone_keeps_only_the_last_epoch():
    params = CrossDatabaseParams.model_validate({**TINY, "protocols": ["direct"]})
    spec = architecture_template(params.architecture)
    scores, predictions = evaluate_pairs((CK, JF), spec, params)
    assert set(scores.protocol) == {"direct"} and set(predictions.epoch) == {EPOCHS[-1]}
    assert (predictions.target_fold == NOT_IN_FOLDS).all()


def test_augmented_copies_join_the_training():
    copies = CK.samples.assign(source_row=np.arange(len(CK.samples)), copy=0)
    table = pd.concat([copies, copies.assign(copy=1)], ignore_index=True)
    augmented = CorpusData(
        "ck", CK.images, CK.samples, CK.classes, (np.concatenate([CK.images] * 2), table)
    )
    params = CrossDatabaseParams.model_validate({**TINY, "protocols": ["direct"]})
    spec = architecture_template(params.architecture)
    scores, _ = evaluate_pairs((augmented, JF), spec, params)
    assert _row(scores, "ck", "jf", "direct").n_train == 2 * 4 * 4 * 2  # contempt left out


def test_the_architecture_comes_inline_or_from_a_spec_file(tmp_path):
    params = CrossDatabaseParams()
    spec = architecture_template(params.architecture)
    assert spec["family"] == "plain_cnn" and not {"in_channels", "num_classes"} & set(spec)
    written = save_spec(
        {**params.architecture.spec, "in_channels": 1, "num_classes": 7}, tmp_path / "spec.json"
    )
    from_file = params.architecture.model_copy(
        update={"file": str(written), "overrides": {"channels": [8, 8]}}
    )
    assert architecture_template(from_file)["channels"] == [8, 8]
    broken = params.architecture.model_copy(update={"overrides": {"channels": "wide"}})
    with pytest.raises(ValueError, match="spec key 'channels'"):
        architecture_template(broken)


def test_searched_darts_cells_from_a_spec_file_are_trained_across_databases(tmp_path):
    """The spec a FER search writes (7 classes, the search network's size), rebuilt larger
    through overrides, with the pair's common class count."""
    searched = {
        "schema_version": 1,
        "family": "darts",
        "in_channels": 1,
        "num_classes": 7,
        "input_size": [48, 48],
        "channels": 2,
        "layers": 3,
        "nodes": 1,
        "stem_multiplier": 3,
        "genotype": {"normal": [[["sep_conv_3x3", 0]]], "reduce": [[["max_pool_3x3", 1]]]},
    }
    settings = {
        **TINY,
        "protocols": ["direct"],
        "training": {"epochs": 1, "batch_size": 16},
        "architecture": {
            "file": str(save_spec(searched, tmp_path / "architecture_spec.json")),
            "overrides": {"channels": 4},
        },
    }
    params = CrossDatabaseParams.model_validate(settings)
    spec = architecture_template(params.architecture)
    assert (spec["family"], spec["channels"]) == ("darts", 4) and "num_classes" not in spec
    scores, predictions = evaluate_pairs((CK, JF), spec, params)
    assert scores.accuracy.notna().all() and predictions.y_pred.between(0, 3).all()


def test_matrices_leave_the_diagonal_and_skipped_pairs_empty():
    scores = pd.DataFrame(
        [
            {"train_corpus": "a", "test_corpus": "b", "protocol": "direct", "accuracy": 0.5},
            {"train_corpus": "b", "test_corpus": "a", "protocol": "direct", "accuracy": 0.25},
            {"train_corpus": "a", "test_corpus": "c", "protocol": "direct", "accuracy": np.nan},
            {"train_corpus": "c", "test_corpus": "a", "protocol": "direct", "accuracy": np.nan},
            {"train_corpus": "b", "test_corpus": "c", "protocol": "direct", "accuracy": 1.0},
            {"train_corpus": "c", "test_corpus": "b", "protocol": "direct", "accuracy": 0.0},
        ]
    )
    matrix = score_matrix(scores, ["a", "b", "c"], "accuracy")
    assert list(matrix.columns) == ["protocol", "train_corpus", "a", "b", "c"]
    values = matrix.set_index("train_corpus")[["a", "b", "c"]]
    assert values.loc["a", "b"] == 0.5 and values.loc["b", "a"] == 0.25
    assert values.loc["c", "b"] == 0.0 and values.loc["b", "c"] == 1.0
    assert np.isnan(np.diag(values.to_numpy())).all() and np.isnan(values.loc["a", "c"])
    figure = matrices_figure(scores.assign(uf1=scores.accuracy), ["a", "b", "c"])
    assert isinstance(figure, Figure) and len(figure.axes) == 3  # accuracy, UF1, colour bar

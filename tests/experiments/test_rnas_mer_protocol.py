import numpy as np
import pandas as pd
import pytest
import torch

from expression_nas.experiments.rnas_mer import (
    cross_database,
    loso_evaluation,
    plan_searches,
    trained_spec,
)
from expression_nas.nas.rnas.search_space import RnasSearchConfig, RnasSupernet
from expression_nas.parameters import RnasMerParams
from expression_nas.training.loop import torch_threads


def _samples(sources: dict[str, int]) -> pd.DataFrame:
    rows = []
    for source, n_subjects in sources.items():
        for subject in range(n_subjects):
            for sample in range(2):
                rows.append(
                    {
                        "dataset": source,
                        "subject": f"{source}/s{subject}",
                        "sample_id": f"{source}/s{subject}/{sample}",
                        "label_index": sample,
                    }
                )
    return pd.DataFrame(rows)


def test_by_source_plan_never_searches_on_evaluated_subjects():
    samples = _samples({"casme2": 3, "samm": 2, "smic": 4})
    plan = plan_searches(samples, "by_source", seed=0)
    assert [group.name for group in plan] == ["casme2", "samm", "smic"]
    evaluated = [s for group in plan for s in group.evaluated_subjects]
    assert sorted(evaluated) == sorted(samples["subject"].unique())  # each subject once
    for group in plan:
        assert not set(group.search_subjects) & set(group.evaluated_subjects)
        assert all(s.startswith(group.name) for s in group.evaluated_subjects)
        assert not any(s.startswith(group.name) for s in group.search_subjects)


def test_subject_groups_on_one_corpus_and_bad_settings():
    samples = _samples({"casme2": 8})
    plan = plan_searches(samples, 4, seed=0)
    assert len(plan) == 4
    for group in plan:
        assert len(group.evaluated_subjects) == 2 and len(group.search_subjects) == 6
    with pytest.raises(ValueError, match="one source"):
        plan_searches(samples, "by_source", seed=0)
    with pytest.raises(ValueError, match=">= 2"):
        plan_searches(samples, 1, seed=0)


def test_the_derived_network_is_trained_with_the_training_dropout():
    searched = {"family": "rnas", "dropout": 0.0}
    params = RnasMerParams(training={"dropout": 0.3})
    assert trained_spec(searched, params) == {"family": "rnas", "dropout": 0.3}
    assert searched["dropout"] == 0.0


def _tiny_corpus(tmp_path):
    """3 sources x 2 subjects x 2 clips of 4 frames at 16x16, memory-mapped as Kedro loads."""
    samples = _samples({"casme2": 2, "samm": 2, "smic": 2})
    clips = np.random.default_rng(0).integers(0, 256, (len(samples), 4, 16, 16), dtype=np.uint8)
    np.save(tmp_path / "clips.npy", clips)
    return np.load(tmp_path / "clips.npy", mmap_mode="r"), samples


def _tiny_spec():
    torch.manual_seed(0)
    config = RnasSearchConfig(layers=2, nodes=2, channels=4, num_classes=2, input_size=(4, 16, 16))
    return RnasSupernet(config).derive()


def test_folds_and_pairs_trained_side_by_side_equal_those_trained_here(tmp_path):
    clips, samples = _tiny_corpus(tmp_path)
    specs = {source: _tiny_spec() for source in ("casme2", "samm", "smic")}
    plan = plan_searches(samples, "by_source", seed=0)
    results = {}
    with torch_threads(1):  # the workers' one thread: the same arithmetic in both
        for workers in (1, 2):
            params = RnasMerParams(
                device="cpu", training={"epochs": 2, "batch_size": 4, "workers": workers}
            )
            loso = loso_evaluation(clips, samples, specs, plan, params)
            cross = cross_database(clips, samples, specs, params, ["a", "b"])
            results[workers] = loso, cross
    (loso_here, cross_here), (loso_pool, cross_pool) = results[1], results[2]
    assert sorted(loso_here["sample_id"]) == sorted(samples["sample_id"])  # each tested once
    pd.testing.assert_frame_equal(loso_pool, loso_here)
    pd.testing.assert_frame_equal(cross_pool, cross_here)
    assert len(cross_here) == 6


def test_training_workers_must_be_auto_or_positive():
    assert RnasMerParams().training.workers == "auto"
    for bad in (0, -1, "two", 1.5, True):
        with pytest.raises(ValueError, match="'auto' or an integer"):
            RnasMerParams(training={"workers": bad})

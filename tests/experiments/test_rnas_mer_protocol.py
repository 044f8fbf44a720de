import pandas as pd
import pytest

from expression_nas.experiments.rnas_mer import plan_searches, trained_spec
from expression_nas.parameters import RnasMerParams


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

"""Algorithm 1 (``hpo.surrogate_search``) on a tiny problem: bookkeeping, resume, grid."""

from __future__ import annotations

import pytest
import torch

from expression_nas.hpo.sparseness import SparsenessSetting
from expression_nas.hpo.surrogate_search import (
    SgdSchedule,
    SurrogateSearchConfig,
    TensorSplit,
    grid_search,
    surrogate_search,
    tied_grid,
)
from expression_nas.models.surrogate_net import surrogate_spec

SPEC = surrogate_spec("lenet", 3, 1, 16)


def _split(n: int, seed: int) -> TensorSplit:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = torch.rand(n, 1, 16, 16, generator=generator) * 0.2
    for label in range(3):  # a bright band per class: learnable
        images[labels == label, :, 5 * label : 5 * label + 4, :] += 0.8
    return TensorSplit(images, labels)


def _config(**changes) -> SurrogateSearchConfig:
    settings = {
        "optimizer": "pso",
        "rounds": 2,
        "population": 4,
        "iterations_per_round": 3,
        "schedule": SgdSchedule(batch_size=8),
    } | changes
    return SurrogateSearchConfig(**settings)


def test_a_search_scores_every_individual_each_round_and_selects_a_validated_setting():
    records = []
    result = surrogate_search(
        SPEC, _split(24, 0), _split(12, 1), _config(), on_round_end=records.append
    )
    assert [r["round"] for r in records] == [1, 2]
    assert result.surrogate_evaluations == 2 * 4
    for record in records:
        assert len(record["individuals"]) == 4
        assert record["best_objective"] == max(i["objective"] for i in record["individuals"])
        for individual in record["individuals"]:
            setting = individual["setting"]
            assert 1e-8 <= setting["lambda_z"] <= 1e-2
            assert 0.0 <= setting["p_x"] <= 0.7
    finalists = {str(sorted(c["setting"].items())) for c in records[-1]["competition"]}
    assert isinstance(result.selected, SparsenessSetting)
    assert 0.0 <= result.selected_validation_accuracy <= 1.0
    # the round-2 current best is the best individual of round 1
    best_of_round_1 = max(records[0]["individuals"], key=lambda i: i["objective"])["setting"]
    assert str(sorted(best_of_round_1.items())) in finalists


def test_untuned_hyper_parameters_keep_their_base_value():
    base = SparsenessSetting(p_z=0.25)
    result = surrogate_search(
        SPEC,
        _split(24, 0),
        _split(12, 1),
        _config(optimizer="de", tuned=("lambda_x", "lambda_W"), base=base, rounds=1),
    )
    assert result.selected.p_z == 0.25 and result.selected.p_V == 0.0
    assert result.selected.lambda_z == 0.0


def test_an_interrupted_search_resumes_after_its_last_round_and_ends_as_a_straight_one(tmp_path):
    train, validation = _split(24, 0), _split(12, 1)
    straight = surrogate_search(SPEC, train, validation, _config(rounds=3))

    class Interrupted(Exception):
        pass

    def stop_after_round_2(record):
        if record["round"] == 2:
            raise Interrupted

    checkpoint = tmp_path / "search.pt"
    with pytest.raises(Interrupted):
        surrogate_search(
            SPEC, train, validation, _config(rounds=3), checkpoint, on_round_end=stop_after_round_2
        )
    # the checkpoint is written after the callback: round 1 is the last one on disk
    resumed = surrogate_search(SPEC, train, validation, _config(rounds=3), checkpoint)
    assert resumed.resumed_from_round == 1
    assert resumed.selected == straight.selected
    assert [r["individuals"] for r in resumed.history] == [
        r["individuals"] for r in straight.history
    ]


def test_the_tied_grid_shares_one_p_and_one_lambda():
    grid = tied_grid(("lambda_z", "lambda_V", "p_z", "p_V"), [0.2, 0.5], [-6.0, -3.0])
    assert len(grid) == 4
    for setting in grid:
        assert setting.p_z == setting.p_V and setting.lambda_z == setting.lambda_V
        assert setting.p_x == 0.0 and setting.lambda_x == 0.0
    assert {(s.p_z, s.lambda_z) for s in grid} == {
        (p, 10.0**e) for p in (0.2, 0.5) for e in (-6.0, -3.0)
    }
    assert len(tied_grid(("p_z",), [0.1, 0.3], [-8.0, -2.0])) == 2


def test_grid_search_picks_the_point_with_the_best_objective():
    grid = tied_grid(("p_z", "p_V"), [0.0, 0.7], [-5.0])
    best, rows = grid_search(SPEC, grid, _split(24, 0), _split(12, 1), 3, SgdSchedule(batch_size=8))
    assert len(rows) == 2
    assert best.as_dict() == max(rows, key=lambda r: r["objective"])["setting"]


def test_a_diverging_setting_scores_below_the_others_and_the_run_goes_on():
    diverging = SparsenessSetting(lambda_V=1e38)  # an L1 term that overflows at once
    grid = [SparsenessSetting(), diverging]
    best, rows = grid_search(SPEC, grid, _split(24, 0), _split(12, 1), 3, SgdSchedule(batch_size=8))
    assert best == SparsenessSetting()
    assert rows[1].get("diverged") and rows[1]["objective"] < rows[0]["objective"]
    result = surrogate_search(
        SPEC,
        _split(24, 0),
        _split(12, 1),
        _config(tuned=("lambda_V",), lambda_bounds=(1e30, 1e60), rounds=1),
    )
    assert result.history[0]["individuals"]  # every individual scored, diverged or not
    assert any(i.get("diverged") for i in result.history[0]["individuals"])

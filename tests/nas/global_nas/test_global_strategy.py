"""Algorithm 1 of seed 004 driven by a fake trainer with scripted scores: the epoch schedule,
the acceptance rules and failure counting, the stopping rules, the micro phase's parameter
bound, the evaluated count and the resume from the candidate cache."""

from __future__ import annotations

import random

import numpy as np
import pytest

from expression_nas.models.global_net import count_global_parameters
from expression_nas.nas.global_nas.cache import CachedTrainer, CandidateCache
from expression_nas.nas.global_nas.space import GlobalSpace, random_spec
from expression_nas.nas.global_nas.strategy import (
    EpochSchedule,
    SearchRules,
    TrainingOutcome,
    run_global_search,
)
from expression_nas.training.checkpoints import fingerprint

TINY = GlobalSpace(min_depth=10, max_depth=100, min_width=16, max_width=64, width_step=2)
SEED_SCHEDULE = EpochSchedule(macro_epochs=10, micro_epochs=2)


class ScriptedTrainer:
    """Returns the given scores in order (then ``rest``), with a training accuracy of 100 at
    the calls listed in ``saturate``; records every call."""

    def __init__(self, scores, rest=0.0, saturate=()):
        self.scores, self.rest, self.saturate = list(scores), rest, set(saturate)
        self.calls = []

    def __call__(self, spec, epochs, seed):
        call = len(self.calls)
        self.calls.append((spec, epochs, seed))
        score = self.scores[call] if call < len(self.scores) else self.rest
        return TrainingOutcome(score, 100.0 if call in self.saturate else 50.0, 1.0)


# start, then 8 grown candidates: accept (+0.10 exactly), within tolerance (-0.05 exactly),
# failure, accept (resets the failures), failure, failure, within tolerance, third failure
GROW_SCORES = [50.0, 50.1, 50.05, 50.04, 50.3, 40.0, 40.0, 50.25, 40.0]
# pruned: accept (equal), failure, accept, failure, third failure (failures are not reset)
PRUNE_SCORES = [50.3, 50.29, 51.0, 40.0, 40.0]


def test_grow_and_prune_follow_the_rules_and_the_epoch_schedule():
    micro = [30.0, 31.0, 31.0] + [0.0] * 12 + [32.0] + [0.0] * 13
    trainer = ScriptedTrainer(GROW_SCORES + PRUNE_SCORES + micro)
    result = run_global_search(TINY, trainer, SEED_SCHEDULE, SearchRules(), seed=3)
    rows = [c.row() for c in result.candidates]
    grow = [r for r in rows if r["phase"] == "grow"]
    assert [r["depth"] for r in grow] == list(range(10, 19))
    assert [r["decision"] for r in grow] == [
        "start", "accepted", "within tolerance", "failure", "accepted",
        "failure", "failure", "within tolerance", "failure",
    ]  # fmt: skip
    assert [r["failures"] for r in grow] == [0, 0, 0, 1, 0, 1, 2, 2, 3]
    assert result.stop_reasons["grow"] == "3 failures since the last acceptance"
    prune = [r for r in rows if r["phase"] == "prune"]
    assert {r["depth"] for r in prune} == {14}  # the best grown network is pruned
    assert [r["width"] for r in prune] == [62, 60, 58, 56, 54]
    assert [r["accepted"] for r in prune] == [True, False, True, False, False]
    assert [r["failures"] for r in prune] == [0, 1, 1, 2, 3]
    assert (result.macro_spec["depth"], result.macro_spec["width"]) == (14, 58)
    assert result.macro_score == 51.0
    # epochs: +1 per grown candidate, +2 per pruned one (carrying on), then fixed at 2
    epochs = [e for _, e, _ in trainer.calls]
    assert epochs == [*range(10, 19), 20, 22, 24, 26, 28] + [2] * (1 + 2 * 14)
    assert {seed for _, _, seed in trainer.calls} == {3}
    # micro: a strict improvement is kept (31 > 30), an equal score is not (31)
    micro_rows = [r for r in rows if r["phase"].startswith("micro")]
    assert micro_rows[0]["phase"] == "micro_baseline" and micro_rows[0]["width"] == 58
    assert [r["accepted"] for r in micro_rows[1:3]] == [True, False]
    assert micro_rows[15]["phase"] == "micro_kernel" and micro_rows[15]["accepted"]
    assert result.spec["layers"][0] == ["conv", 5] and result.score == 32.0
    assert result.spec["layers"][1:] == [["sep", 3]] * 13
    # D' + W' + 2 D_f candidates evaluated, plus the micro baseline's retraining
    assert result.counts == {
        "grow": 9, "prune": 5, "micro": 28, "final_depth": 14, "evaluated": 42, "trainings": 43
    }  # fmt: skip
    assert len(trainer.calls) == 43


def test_grow_stops_at_max_depth_and_prune_at_min_width():
    space = GlobalSpace(min_depth=3, max_depth=5, min_width=8, max_width=12, width_step=2)
    trainer = ScriptedTrainer([10.0, 20.0, 30.0, 30.0, 30.0], rest=0.0)
    result = run_global_search(space, trainer, EpochSchedule(4, 1), SearchRules())
    assert result.stop_reasons == {
        "grow": "reached max_depth", "prune": "reached min_width", "micro": "every layer tried"
    }  # fmt: skip
    assert [(c.phase, c.spec["depth"], c.spec["width"]) for c in result.candidates[:5]] == [
        ("grow", 3, 12), ("grow", 4, 12), ("grow", 5, 12), ("prune", 5, 10), ("prune", 5, 8)
    ]  # fmt: skip
    assert [c.epochs for c in result.candidates[:5]] == [4, 5, 6, 8, 10]
    assert result.counts["evaluated"] == 3 + 2 + 2 * 5


def test_grow_stops_when_training_accuracy_reaches_100():
    trainer = ScriptedTrainer([10.0, 11.0, 12.0], saturate={1})
    result = run_global_search(TINY, trainer, SEED_SCHEDULE, SearchRules())
    grow = [c for c in result.candidates if c.phase == "grow"]
    assert len(grow) == 2 and grow[-1].accepted  # the saturated candidate is still judged
    assert result.stop_reasons["grow"] == "training accuracy reached 100"
    assert result.macro_spec["depth"] == 11


def test_micro_candidates_stay_within_the_parameter_bound():
    rules = SearchRules(param_tolerance=10_000)
    # the macro search keeps the start network (depth 10, width 64); the micro phase keeps
    # every change, so the later candidates start from already narrowed networks
    trainer = ScriptedTrainer([50.0, 0, 0, 0, 0, 0, 0] + [float(i) for i in range(1, 30)])
    result = run_global_search(TINY, trainer, SEED_SCHEDULE, rules)
    macro_parameters = count_global_parameters(result.macro_spec)
    bound = macro_parameters + rules.param_tolerance
    micro = [c for c in result.candidates if c.phase in ("micro_operation", "micro_kernel")]
    assert len(micro) == 2 * 10 and all(c.accepted for c in micro)
    previous_width = result.macro_spec["width"]
    for candidate in micro:
        assert candidate.parameters <= bound
        wider = {**candidate.spec, "width": candidate.spec["width"] + 1}
        if candidate.spec["width"] < previous_width:  # lowered only as far as needed
            assert count_global_parameters(wider) > bound
        previous_width = candidate.spec["width"]
    assert micro[0].spec["width"] < 64  # a plain 3x3 at 64 channels is over the bound
    assert result.spec["layers"] == [["conv", 5]] * 10


def _deterministic_score(spec, epochs, seed):
    return random.Random(fingerprint(spec, epochs, seed)).uniform(20.0, 60.0)


class FunctionTrainer:
    """Scores that depend on (spec, epochs, seed) only; optionally interrupted after
    ``interrupt_after`` trainings."""

    def __init__(self, interrupt_after=None):
        self.interrupt_after, self.trained = interrupt_after, 0

    def __call__(self, spec, epochs, seed):
        if self.interrupt_after is not None and self.trained >= self.interrupt_after:
            raise KeyboardInterrupt
        self.trained += 1
        return TrainingOutcome(_deterministic_score(spec, epochs, seed), 50.0, 2.0)


def test_an_interrupted_search_resumes_from_the_candidate_cache(tmp_path):
    space = GlobalSpace(min_depth=3, max_depth=9, min_width=8, max_width=16, width_step=2)
    schedule = EpochSchedule(3, 1)
    straight = run_global_search(space, FunctionTrainer(), schedule, SearchRules(), seed=1)
    total = straight.counts["trainings"]
    cache = CandidateCache(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        run_global_search(
            space, CachedTrainer(FunctionTrainer(interrupt_after=7), cache), schedule, seed=1
        )
    assert len(cache) == 7
    inner = FunctionTrainer()
    resumed_trainer = CachedTrainer(inner, cache)
    resumed = run_global_search(space, resumed_trainer, schedule, SearchRules(), seed=1)
    assert (resumed_trainer.reused, inner.trained) == (7, total - 7)
    assert [c.outcome.cached for c in resumed.candidates] == [True] * 7 + [False] * (total - 7)

    def rows(result):
        return [{k: v for k, v in c.row().items() if k != "cached"} for c in result.candidates]

    assert rows(resumed) == rows(straight)
    assert resumed.spec == straight.spec and resumed.search_seconds == straight.search_seconds
    # the key holds the seed and the epochs: another seed trains everything again
    other = FunctionTrainer()
    again = run_global_search(space, CachedTrainer(other, cache), schedule, SearchRules(), seed=2)
    assert other.trained == again.counts["trainings"]
    assert cache.get(straight.candidates[0].spec, 99, 1) is None


def test_random_architectures_cover_the_space_uniformly():
    space = GlobalSpace(min_depth=2, max_depth=4, min_width=8, max_width=12, width_step=2)
    rng = np.random.default_rng(0)
    specs = [random_spec(space, rng) for _ in range(600)]
    assert {s["depth"] for s in specs} == {2, 3, 4} and {s["width"] for s in specs} == {8, 10, 12}
    layers = [tuple(layer) for s in specs for layer in s["layers"]]
    counts = {choice: layers.count(choice) for choice in set(layers)}
    assert set(counts) == {("sep", 3), ("sep", 5), ("conv", 3), ("conv", 5)}
    assert max(counts.values()) / min(counts.values()) < 1.25
    depths = [s["depth"] for s in specs]
    assert max(depths.count(d) for d in (2, 3, 4)) / min(depths.count(d) for d in (2, 3, 4)) < 1.3


def test_the_space_refuses_a_width_range_off_its_grid():
    with pytest.raises(ValueError, match="multiple of width_step"):
        GlobalSpace(min_depth=1, max_depth=2, min_width=16, max_width=63, width_step=2)

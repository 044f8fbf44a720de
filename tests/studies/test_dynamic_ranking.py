"""The ranking study of seed 004: the dynamic reading of the networks, the correlations with
their bootstrap intervals, the verdict, and a tiny run of the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from expression_nas.studies import dynamic_ranking as study


def test_the_ith_smallest_network_is_read_at_epoch_i():
    parameters = np.array([50, 10, 40, 20, 30])
    assert study.dynamic_epochs(parameters, 5).tolist() == [5, 1, 4, 2, 3]
    # more networks than epochs: the ranks are spread evenly over 1..M
    assert study.dynamic_epochs(np.arange(9), 3).tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 3]
    assert study.dynamic_epochs(np.array([7]), 4).tolist() == [1]
    accuracies = np.arange(15).reshape(5, 3)
    assert study.read_at(accuracies, np.array([1, 2, 3, 1, 2])).tolist() == [0, 4, 8, 9, 13]


def test_correlations_with_bootstrap_intervals():
    rng = np.random.default_rng(0)
    final = rng.normal(size=40)
    close, noise = final + 0.1 * rng.normal(size=40), rng.normal(size=40)
    strong = study.correlate(final, close, resamples=300)
    assert strong["spearman"] == pytest.approx(stats.spearmanr(final, close).statistic)
    assert strong["kendall"] == pytest.approx(stats.kendalltau(final, close).statistic)
    assert strong["spearman_low"] <= strong["spearman"] <= strong["spearman_high"]
    assert strong["spearman_low"] > 0.8
    weak = study.correlate(final, noise, resamples=300)
    assert weak["spearman_low"] < 0 < weak["spearman_high"]
    diff = study.difference(final, close, noise, resamples=300)
    assert diff["low"] > 0 and diff["difference"] == pytest.approx(
        strong["spearman"] - weak["spearman"]
    )


def test_the_analysis_and_its_verdict():
    rng = np.random.default_rng(1)
    networks, epochs = 30, 6
    parameters = rng.integers(1_000, 100_000, networks)
    quality = rng.normal(size=networks)
    # accuracies that rise with training and with size: an early epoch ranks poorly
    time = np.linspace(0.1, 1.0, epochs)
    accuracies = (
        40 + 10 * quality[:, None] * time + 20 * rng.normal(size=(networks, 1)) * (1 - time)
    )
    analysis = study.analyse(accuracies, parameters, resamples=200)
    assert set(analysis["correlations"]) == set(study.PAIRS)
    assert set(analysis["verdict"]) == {"dynamic", "dynamic_capped"}
    assert {"difference", "low", "high"} == set(analysis["dynamic_minus_parameters"])
    assert analysis["values"]["final"] == accuracies[:, -1].tolist()
    assert analysis["values"]["static"] == accuracies[:, 0].tolist()
    for pair, verdict in analysis["verdict"].items():
        diff = analysis["dynamic_minus_static"][pair]
        assert verdict.startswith("holds") == (diff["low"] > 0)
    figures = study.scatter_figures(analysis)
    assert set(figures) == set(study.PAIRS)


@pytest.mark.slow  # generates the demo FER2013 and trains 4 tiny networks: about 30 s
def test_the_command_prints_and_saves_its_results(tmp_path, capsys, single_torch_thread):
    study.main(
        [
            "--networks", "4", "--epochs", "2", "--max-train-images", "60",
            "--input-size", "12", "--resamples", "50", "--output-dir", str(tmp_path),
        ]
    )  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["correlations"]) == set(study.PAIRS)
    assert printed["settings"]["networks"] == 4 and printed["settings"]["train_images"] == 60
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["values"]["final"]) == 4
    for pair in study.PAIRS:
        assert (tmp_path / f"final_vs_{pair}.png").stat().st_size > 0
    assert (tmp_path / "networks.csv").exists()

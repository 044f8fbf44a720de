"""The toy DE vs PSO study: well-formed rows, a paired start, its finding, and the CLI."""

import json
from pathlib import Path

import numpy as np

from expression_nas.studies.toy_de_pso import OPTIMIZERS, main, regret_curve, run_all, run_study


def test_rows_are_tiny_and_well_formed() -> None:
    rows = run_study(dims=(1, 2), seeds=3, generations=2)

    assert len(rows) == 2 * len(OPTIMIZERS) * 3
    assert {(row["dims"], row["optimizer"], row["generations"]) for row in rows} == {
        (dims, name, generation)
        for dims in (1, 2)
        for name in OPTIMIZERS
        for generation in range(3)
    }
    for row in rows:
        assert row["evaluations"] == 6 * (row["generations"] + 1)
        assert row["seeds"] == 3
        assert 0 <= row["q25_regret"] <= row["median_regret"] <= row["q75_regret"]
    json.dumps(rows, allow_nan=False)


def test_regret_never_increases_and_every_optimizer_starts_from_the_same_population() -> None:
    curves = {name: regret_curve(name, 4, seed=5, generations=15) for name in OPTIMIZERS}

    for curve in curves.values():
        assert curve.shape == (16,)
        assert np.all(curve >= 0) and np.all(np.diff(curve) <= 0)
    assert len({curve[0] for curve in curves.values()}) == 1
    assert curves["de"][-1] != curves["pso"][-1]


def test_pso_beats_de_at_the_seeds_settings_after_ten_generations() -> None:
    """The study's finding (module docstring): at 4 and 8 parameters, as the seed says, and at
    1 too, where the seed found DE slightly better; DE at F = 0.1 and population 6 stalls."""
    regrets = run_all(dims=(1, 4, 8), seeds=40, generations=10)

    for dims in (1, 4, 8):
        de, pso = (regrets[dims, name][:, -1] for name in ("de", "pso"))
        assert np.median(pso) < 0.8 * np.median(de)
        assert np.mean(pso < de) > 0.6


def test_cli_prints_json_rows_and_saves_the_plot(tmp_path: Path, capsys) -> None:
    assert (
        main(["--dims", "2", "--seeds", "2", "--generations", "3", "--output-dir", str(tmp_path)])
        == 0
    )

    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == run_study(dims=(2,), seeds=2, generations=3)
    assert json.loads((tmp_path / "results.json").read_text()) == printed
    assert (tmp_path / "regret.png").read_bytes().startswith(b"\x89PNG")

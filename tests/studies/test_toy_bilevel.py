"""The toy bilevel study: hypergradients against closed forms, the study's findings, the CLI."""

import json

import pytest
import torch

from expression_nas.studies.toy_bilevel import (
    G_DIAGONAL,
    INNER_STEPS,
    LAMBDA0,
    METHODS,
    ToyResult,
    darts_hypergradient,
    inner_step,
    main,
    outer_objective,
    run_all,
    unrolled_hypergradient,
)

Study = dict[tuple[str, float], ToyResult]


def random_pair(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    w, lam = torch.randn(2, 2, generator=generator, dtype=torch.float64)
    return w, lam


def outer_gradient(w: torch.Tensor) -> torch.Tensor:
    """grad f(w) = 2 w + 10 sin(2 w), by hand."""
    return 2 * w + 10 * torch.sin(2 * w)


@pytest.mark.parametrize("xi", [0.1, 0.13])
def test_second_order_finite_difference_matches_exact_hypergradient(xi: float) -> None:
    w, lam = random_pair(0)
    lam_leaf = lam.clone().requires_grad_()
    unrolled = inner_step(w, lam_leaf, xi, differentiable=True)
    (exact,) = torch.autograd.grad(outer_objective(unrolled), lam_leaf)

    torch.testing.assert_close(darts_hypergradient(w, lam, xi), exact, rtol=1e-4, atol=1e-10)


def test_first_order_hypergradient_is_identically_zero() -> None:
    w, lam = random_pair(1)

    assert torch.equal(darts_hypergradient(w, lam, 0.0), torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("xi", [0.1, 0.13])
def test_full_unroll_matches_closed_form(xi: float) -> None:
    w_init, lam = random_pair(2)
    contraction = (1 - xi * G_DIAGONAL) ** INNER_STEPS
    expected_w_final = lam + contraction * (w_init - lam)

    hypergradient, w_final = unrolled_hypergradient(lam, w_init, xi, INNER_STEPS, INNER_STEPS)

    torch.testing.assert_close(w_final, expected_w_final)
    torch.testing.assert_close(hypergradient, (1 - contraction) * outer_gradient(w_final))


@pytest.mark.parametrize("xi", [0.1, 0.13])
def test_truncated_unroll_backpropagates_through_the_last_step_only(xi: float) -> None:
    w_init, lam = random_pair(3)

    hypergradient, w_final = unrolled_hypergradient(lam, w_init, xi, INNER_STEPS, 1)

    torch.testing.assert_close(hypergradient, xi * G_DIAGONAL * outer_gradient(w_final))


@pytest.fixture(scope="module")
def study() -> Study:
    return {(result.method, result.xi): result for result in run_all((0.1, 0.13))}


def test_outer_steps_ordering_at_xi_0_1(study: Study) -> None:
    full, truncated, second_order = (study[method, 0.1] for method in METHODS[:3])

    assert full.converged and truncated.converged and second_order.converged
    assert full.outer_steps < truncated.outer_steps < second_order.outer_steps


def test_full_unroll_costs_more_per_outer_step_than_second_order(study: Study) -> None:
    full, second_order = study["full", 0.1], study["second_order", 0.1]

    assert full.seconds / full.outer_steps > 2 * second_order.seconds / second_order.outer_steps


@pytest.mark.parametrize("xi", [0.1, 0.13])
def test_first_order_never_moves_lambda(study: Study, xi: float) -> None:
    result = study["first_order", xi]

    assert not result.converged
    assert (result.lambdas == LAMBDA0).all()


def test_full_and_truncated_converge_at_xi_0_13(study: Study) -> None:
    assert study["full", 0.13].converged
    assert study["truncated", 0.13].converged


def test_second_order_still_converges_at_xi_0_13(study: Study) -> None:
    """The document's failure of the second-order method at xi = 0.13 is NOT reproduced here."""
    result = study["second_order", 0.13]

    assert result.converged
    assert result.outer_steps < study["second_order", 0.1].outer_steps


def test_cli_prints_only_json_rows_and_writes_plots(tmp_path, capsys) -> None:
    exit_code = main(["--xi", "0.13", "--output-dir", str(tmp_path), "--max-outer-steps", "3"])

    rows = json.loads(capsys.readouterr().out)
    assert exit_code == 0
    assert [row["method"] for row in rows] == list(METHODS)
    for row in rows:
        assert set(row) == {"method", "xi", "converged", "final_lambda", "outer_steps", "seconds"}
        assert row["xi"] == 0.13
        assert len(row["final_lambda"]) == 2
        assert 1 <= row["outer_steps"] <= 3
    for name in ("trajectories_xi0.13.png", "components_xi0.13.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads((tmp_path / "results.json").read_text()) == rows

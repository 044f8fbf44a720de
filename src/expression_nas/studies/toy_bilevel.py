"""Toy bilevel study: full, truncated and DARTS-style unrolled hypergradients on one 2-D problem.

The problem (seed 002, section 6.1.1, eq. 25), with lambda, w in R^2 and G = diag(1, 1/2):

    outer  f(w) = ||w||^2 + 10 ||sin(w)||^2, evaluated at the inner result w_hat
    inner  g(w, lambda) = 1/2 (w - lambda)^T G (w - lambda), minimised by gradient descent
           with learning rate xi,

from w0 = (2, 2) and lambda0 = (1, 1); the optimum is lambda* = (0, 0). Every outer step
computes a hypergradient d f / d lambda and takes one plain gradient-descent step on lambda:

- ``full``: T = 100 inner steps, back-propagation through all K = 100 of them;
- ``truncated``: T = 100 inner steps, back-propagation through the last K = 1 only;
- ``second_order``: DARTS' one-step unrolled approximation d f(w - xi dg/dw(w, lambda)) / d lambda,
  its mixed second-derivative term taken by central differences at eps = 0.01 / ||df/dw'||;
- ``first_order``: the same with xi = 0, i.e. the direct gradient of f at the current w.

For the two DARTS methods w persists across outer steps (DARTS Algorithm 1: update lambda, then
take one inner step on w). The document does not say whether full/truncated restart the inner
loop from w0 at every outer step; here they warm-start from the previous outer step's w_T.
Restarting from w0 biases the unrolled problem: w_T - lambda = (I - xi G)^T (w0 - lambda) never
vanishes, so its minimiser sits at about lambda = (0, -0.012) for xi = 0.1 and full back-propagation
never comes within 1e-3 of lambda*. Warm-starting makes w_T track lambda, so lambda* is the fixed
point of every method that uses the response gradient, and all four methods carry w over.

The outer optimiser is not given by the document. All methods and xi share plain gradient
descent with step 1/L = 1/22, L = max f'' = 2 + 20 being the Lipschitz constant of grad f (the
full hypergradient is close to grad f(lambda)).

Converged: ||lambda_k - lambda*||_2 < tol (1e-3) for some outer step k <= max_outer_steps (500);
outer_steps is the first such k (the run stops there), otherwise max_outer_steps.

f does not depend on lambda directly, so the first-order hypergradient is identically zero: lambda
never moves and ``first_order`` never converges (it does not diverge either).

With these choices the document's ordering of outer steps at xi = 0.1 (full < truncated <
second order) holds, though truncated vs second order flips for outer steps below about 0.045;
its second-order failure at xi = 0.13 does not: second order converges there, faster than at 0.1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

Method = Literal["full", "truncated", "second_order", "first_order"]
METHODS: tuple[Method, ...] = ("full", "truncated", "second_order", "first_order")
DTYPE = torch.float64
W0 = (2.0, 2.0)
LAMBDA0 = (1.0, 1.0)
LAMBDA_STAR = (0.0, 0.0)
G_DIAGONAL = torch.tensor((1.0, 0.5), dtype=DTYPE)
INNER_STEPS = 100
OUTER_LEARNING_RATE = 1 / 22
TOLERANCE = 1e-3
MAX_OUTER_STEPS = 500
DEFAULT_XIS = (0.1, 0.13)
DEFAULT_OUTPUT_DIR = Path("data/08_reporting/toy_bilevel")
CONVERGED_DEFINITION = (
    "Converged: ||lambda_k - lambda*||_2 < tol for some outer step k <= max_outer_steps, with "
    "lambda* = (0, 0) and lambda0 not counted; outer_steps is the first such k (the run stops "
    "there), otherwise max_outer_steps; seconds is the time.perf_counter time of those steps"
)


@dataclass(frozen=True)
class ToyResult:
    """One method at one xi; ``lambdas`` holds lambda0 and every outer iterate, shape (n, 2)."""

    method: Method
    xi: float
    converged: bool
    outer_steps: int
    seconds: float
    lambdas: np.ndarray

    @property
    def final_lambda(self) -> list[float]:
        return [float(value) for value in self.lambdas[-1]]

    def as_row(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "xi": self.xi,
            "converged": self.converged,
            "final_lambda": self.final_lambda,
            "outer_steps": self.outer_steps,
            "seconds": self.seconds,
        }


def as_vector(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=DTYPE)


def outer_objective(w: torch.Tensor) -> torch.Tensor:
    return (w**2).sum() + 10 * (torch.sin(w) ** 2).sum()


def inner_objective(w: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    difference = w - lam
    return 0.5 * torch.dot(difference, G_DIAGONAL * difference)


def inner_step(w: torch.Tensor, lam: torch.Tensor, xi: float, differentiable: bool) -> torch.Tensor:
    """w - xi * dg/dw(w, lambda); kept in the autograd graph only when ``differentiable``."""
    if differentiable:
        w = w if w.requires_grad else w.detach().requires_grad_()
        (gradient,) = torch.autograd.grad(inner_objective(w, lam), w, create_graph=True)
        return w - xi * gradient
    w = w.detach().requires_grad_()
    (gradient,) = torch.autograd.grad(inner_objective(w, lam.detach()), w)
    with torch.no_grad():
        return w - xi * gradient


def unrolled_hypergradient(
    lam: torch.Tensor, w_init: torch.Tensor, xi: float, inner_steps: int, backprop_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """d f(w_T) / d lambda through the last ``backprop_steps`` of ``inner_steps`` inner steps.

    Returns the hypergradient and w_T (detached).
    """
    lam = lam.detach().requires_grad_()
    w = w_init.detach()
    for step in range(inner_steps):
        w = inner_step(w, lam, xi, differentiable=step >= inner_steps - backprop_steps)
    (hypergradient,) = torch.autograd.grad(outer_objective(w), lam)
    return hypergradient, w.detach()


def darts_hypergradient(w: torch.Tensor, lam: torch.Tensor, xi: float) -> torch.Tensor:
    """DARTS' approximation of d f(w - xi dg/dw(w, lambda)) / d lambda (eq. 18-19).

    direct term - xi * (dg/dlambda(w+, lambda) - dg/dlambda(w-, lambda)) / (2 eps), with
    w+- = w +- eps * df/dw(w') and eps = 0.01 / ||df/dw(w')||. The direct term is zero since f
    does not depend on lambda, so xi = 0 (first order) gives a zero hypergradient.
    """
    direct = torch.zeros_like(lam)
    if xi == 0:
        return direct
    w_virtual = inner_step(w, lam, xi, differentiable=False).requires_grad_()
    (outer_gradient,) = torch.autograd.grad(outer_objective(w_virtual), w_virtual)
    norm = outer_gradient.norm()
    if norm == 0:
        return direct
    eps = 0.01 / norm
    lam = lam.detach().requires_grad_()
    plus, minus = (
        torch.autograd.grad(inner_objective(w.detach() + sign * eps * outer_gradient, lam), lam)[0]
        for sign in (1.0, -1.0)
    )
    return direct - xi * (plus - minus) / (2 * eps)


def run_method(
    method: Method,
    xi: float,
    *,
    outer_learning_rate: float = OUTER_LEARNING_RATE,
    tol: float = TOLERANCE,
    max_outer_steps: int = MAX_OUTER_STEPS,
) -> ToyResult:
    """Gradient descent on lambda with ``method``'s hypergradient until converged (see module)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    lam, w, lambda_star = as_vector(LAMBDA0), as_vector(W0), as_vector(LAMBDA_STAR)
    trajectory = [lam]
    converged = False
    outer_steps = max_outer_steps
    start = time.perf_counter()
    for step in range(1, max_outer_steps + 1):
        if method in ("full", "truncated"):
            backprop_steps = INNER_STEPS if method == "full" else 1
            hypergradient, w = unrolled_hypergradient(lam, w, xi, INNER_STEPS, backprop_steps)
        else:
            hypergradient = darts_hypergradient(w, lam, xi if method == "second_order" else 0.0)
        lam = lam - outer_learning_rate * hypergradient
        if method in ("second_order", "first_order"):
            w = inner_step(w, lam, xi, differentiable=False)
        trajectory.append(lam)
        if torch.linalg.vector_norm(lam - lambda_star) < tol:
            converged, outer_steps = True, step
            break
    seconds = time.perf_counter() - start
    return ToyResult(method, xi, converged, outer_steps, seconds, torch.stack(trajectory).numpy())


def run_all(
    xis: Sequence[float] = DEFAULT_XIS,
    *,
    tol: float = TOLERANCE,
    max_outer_steps: int = MAX_OUTER_STEPS,
) -> list[ToyResult]:
    """Every method at every xi, after one untimed warm-up so no timing pays torch's start-up."""
    unrolled_hypergradient(as_vector(LAMBDA0), as_vector(W0), xis[0], INNER_STEPS, INNER_STEPS)
    results = []
    for xi in xis:
        for method in METHODS:
            result = run_method(method, xi, tol=tol, max_outer_steps=max_outer_steps)
            logger.info(
                "xi=%g %s: converged=%s after %d outer steps, lambda=%s, %.4f s",
                xi,
                method,
                result.converged,
                result.outer_steps,
                np.round(result.final_lambda, 6).tolist(),
                result.seconds,
            )
            results.append(result)
    return results


def run_study(
    xis: Sequence[float] = DEFAULT_XIS,
    output_dir: Path | None = None,
    *,
    tol: float = TOLERANCE,
    max_outer_steps: int = MAX_OUTER_STEPS,
) -> list[dict[str, Any]]:
    """The result rows of ``run_all``; with ``output_dir``, also its plots and results.json."""
    results = run_all(xis, tol=tol, max_outer_steps=max_outer_steps)
    rows = [result.as_row() for result in results]
    if output_dir is not None:
        save_outputs(results, rows, output_dir)
    return rows


def outer_objective_grid(
    lower: float, upper: float, points: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    axis = np.linspace(lower, upper, points)
    first, second = np.meshgrid(axis, axis)
    values = first**2 + second**2 + 10 * (np.sin(first) ** 2 + np.sin(second) ** 2)
    return first, second, values


def plot_trajectories(results: Sequence[ToyResult], xi: float) -> Figure:
    """Lambda trajectories of every method at ``xi`` over the contours of f (as in Fig. 18a/d)."""
    selected = [result for result in results if result.xi == xi]
    extent = max(2.0, *(float(np.abs(result.lambdas).max()) + 0.5 for result in selected))
    figure = Figure(figsize=(6.5, 5.5))
    axes = figure.add_subplot()
    contours = axes.contourf(*outer_objective_grid(-extent, extent), levels=30, cmap="viridis")
    figure.colorbar(contours, ax=axes, label="f")
    axes.plot(*LAMBDA0, "ws", label="lambda0")
    axes.plot(*LAMBDA_STAR, "r*", markersize=12, label="lambda*")
    for result in selected:
        axes.plot(*result.lambdas.T, marker=".", markersize=4, label=result.method)
    axes.set(xlabel="lambda1", ylabel="lambda2", title=f"lambda trajectories, xi = {xi:g}")
    axes.legend(loc="lower left", fontsize="small")
    return figure


def plot_components(results: Sequence[ToyResult], xi: float) -> Figure:
    """lambda1 and lambda2 against the outer step, one panel per method (as in Fig. 18b-f)."""
    selected = [result for result in results if result.xi == xi]
    figure = Figure(figsize=(4 * len(selected), 3.5), layout="constrained")
    for axes, result in zip(
        figure.subplots(1, len(selected), squeeze=False)[0], selected, strict=True
    ):
        steps = np.arange(len(result.lambdas))
        axes.plot(steps, result.lambdas[:, 0], label="lambda1")
        axes.plot(steps, result.lambdas[:, 1], label="lambda2")
        axes.axhline(0.0, color="grey", linewidth=0.5)
        status = "converged" if result.converged else "not converged"
        axes.set(xlabel="outer step", title=f"{result.method} ({status})")
        axes.legend(fontsize="small")
    figure.suptitle(f"lambda components, xi = {xi:g}")
    return figure


def save_outputs(results: Sequence[ToyResult], rows: list[dict], output_dir: Path) -> list[Path]:
    """Writes both plots per xi (PNG, rendered by Agg) and results.json into ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for xi in dict.fromkeys(result.xi for result in results):
        for name, plot in (("trajectories", plot_trajectories), ("components", plot_components)):
            path = output_dir / f"{name}_xi{xi:g}.png"
            plot(results, xi).savefig(path, dpi=120)
            written.append(path)
    results_path = output_dir / "results.json"
    results_path.write_text(json.dumps(rows, indent=2) + "\n")
    written.append(results_path)
    logger.info("wrote %s", ", ".join(str(path) for path in written))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m expression_nas.studies.toy_bilevel",
        description=(
            "Toy bilevel study (seed 002, section 6.1.1): full (T=K=100), truncated (T=100, K=1), "
            "DARTS second- and first-order hypergradients, plain gradient descent on lambda at "
            "step 1/22 from lambda0 = (1, 1). Prints one JSON list of rows on stdout. "
            f"{CONVERGED_DEFINITION}."
        ),
    )
    parser.add_argument(
        "--xi",
        type=float,
        action="append",
        help="inner learning rate (= DARTS xi); repeatable; default: 0.1 and 0.13",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help="where the PNG plots and results.json go (default: %(default)s)",
    )
    parser.add_argument(
        "--tol", type=float, default=TOLERANCE, help="convergence radius (default: %(default)g)"
    )
    parser.add_argument(
        "--max-outer-steps",
        type=int,
        default=MAX_OUTER_STEPS,
        help="outer-step budget (default: %(default)d)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    rows = run_study(
        args.xi or DEFAULT_XIS,
        args.output_dir,
        tol=args.tol,
        max_outer_steps=args.max_outer_steps,
    )
    sys.stdout.write(json.dumps(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

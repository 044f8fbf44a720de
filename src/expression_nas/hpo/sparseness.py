"""Seed 001's sparseness losses, fitting losses and HPO objective (eq. 2-4, 9-11).

Scale conventions (the seed writes sums over the training samples; SGD sees batches):
- the softmax loss and the feature penalties are means over the batch, so
  L = CE + lambda_z mean_i ||z_i||_1 + lambda_x mean_i ||x_i||_1 + lambda_W ||W||_1
  + lambda_V ||V||_1 (eq. 3 sums the same matrix norm over the samples, which the batch mean
  turns into the norm itself);
- eq. 9's distances are half squared norms, as eq. 10's gradients (x^s - x^o, ...) imply;
  the feature distances are batch means; each term has its own eta (1e-2 in the seed);
- the objective (eq. 11) takes the validation accuracy as a fraction in [0, 1], so kappa =
  1e-5 makes the L1/L2 ratio of x a tie-breaker between settings of equal accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from expression_nas.models.surrogate_net import SparseHead, SparseOutputs

#: Eq. 8's hyper-parameters, in its order.
HYPERPARAMETERS = ("lambda_z", "lambda_V", "lambda_x", "lambda_W", "p_z", "p_V", "p_x", "p_W")
LAMBDAS = HYPERPARAMETERS[:4]
DROPOUTS = HYPERPARAMETERS[4:]


@dataclass(frozen=True)
class SparsenessSetting:
    """One point of eq. 8: four L1 coefficients and four drop probabilities (0: off)."""

    lambda_z: float = 0.0
    lambda_V: float = 0.0
    lambda_x: float = 0.0
    lambda_W: float = 0.0
    p_z: float = 0.0
    p_V: float = 0.0
    p_x: float = 0.0
    p_W: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.startswith("p_") and not 0 <= value < 1:
                raise ValueError(f"{field.name} = {value}: a drop probability must be in [0, 1)")
            if field.name.startswith("lambda_") and value < 0:
                raise ValueError(f"{field.name} = {value}: a coefficient must be >= 0")

    def with_values(self, values: dict[str, float]) -> SparsenessSetting:
        return replace(self, **{name: float(value) for name, value in values.items()})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def dropout_rates(self, head: SparseHead) -> dict[str, float]:
        """The head's dropout rates (keys z, V and, with an FC2, x and W)."""
        keys = ("z", "V") if head.fc2 is None else ("z", "V", "x", "W")
        return {key: getattr(self, f"p_{key}") for key in keys}

    def check_fits(self, head: SparseHead) -> None:
        """A head without FC2 (ResNet20) has no x or W to regularise or drop."""
        if head.fc2 is None:
            unused = [n for n in ("lambda_x", "lambda_W", "p_x", "p_W") if getattr(self, n)]
            if unused:
                raise ValueError(f"{unused}: this network has one FC layer (no x, no W)")


def sparseness_penalty(outputs: SparseOutputs, head: SparseHead, setting: SparsenessSetting):
    """lambda_z mean ||z||_1 + lambda_x mean ||x||_1 + lambda_V ||V||_1 + lambda_W ||W||_1."""
    penalty = outputs.logits.new_zeros(())
    if setting.lambda_z:
        penalty = penalty + setting.lambda_z * outputs.z.abs().sum(dim=1).mean()
    if setting.lambda_x and head.fc2 is not None:
        penalty = penalty + setting.lambda_x * outputs.x.abs().sum(dim=1).mean()
    if setting.lambda_V:
        penalty = penalty + setting.lambda_V * head.V.abs().sum()
    if setting.lambda_W and head.W is not None:
        penalty = penalty + setting.lambda_W * head.W.abs().sum()
    return penalty


def task_loss(
    outputs: SparseOutputs, targets: Tensor, head: SparseHead, setting: SparsenessSetting
) -> Tensor:
    """Eq. 4: the softmax loss plus the sparseness penalties."""
    return F.cross_entropy(outputs.logits, targets) + sparseness_penalty(outputs, head, setting)


#: The softmax loss alone: every coefficient and drop probability off.
NO_SPARSENESS = SparsenessSetting()


@dataclass(frozen=True)
class FittingWeights:
    """Eq. 9's eta per term (the seed: all 1e-2)."""

    x: float = 1e-2
    z: float = 1e-2
    W: float = 1e-2
    V: float = 1e-2


def fitting_loss(
    original: SparseOutputs,
    original_head: SparseHead,
    surrogate: SparseOutputs,
    surrogate_head: SparseHead,
    eta: FittingWeights | None = None,
) -> Tensor:
    """Eq. 9 with one-sided back-propagation: the original's x, z, W and V are constants
    (detached), so this loss moves the surrogate only."""

    eta = eta or FittingWeights()

    def half_squared(target: Tensor, value: Tensor, batch: bool) -> Tensor:
        squared = (value - target.detach()).pow(2)
        return 0.5 * (squared.sum(dim=1).mean() if batch else squared.sum())

    loss = eta.x * half_squared(original.x, surrogate.x, batch=True)
    loss = loss + eta.z * half_squared(original.z, surrogate.z, batch=True)
    loss = loss + eta.V * half_squared(original_head.V, surrogate_head.V, batch=False)
    if original_head.W is not None and surrogate_head.W is not None:
        loss = loss + eta.W * half_squared(original_head.W, surrogate_head.W, batch=False)
    return loss


def l1_l2_ratio(x: Tensor) -> Tensor:
    """Per sample ||x||_1 / ||x||_2 (0 for an all-zero x): Hoyer's sparseness measure."""
    l2 = x.norm(p=2, dim=1)
    return torch.where(l2 > 0, x.abs().sum(dim=1) / l2.clamp_min(1e-12), torch.zeros_like(l2))


def objective(accuracy: float, mean_ratio: float, kappa: float = 1e-5) -> float:
    """Eq. 11: validation accuracy (a fraction) minus kappa times the mean L1/L2 ratio of x."""
    return float(accuracy) - kappa * float(mean_ratio)


def setting_from_dict(values: dict[str, Any]) -> SparsenessSetting:
    unknown = set(values) - set(HYPERPARAMETERS)
    if unknown:
        raise ValueError(f"unknown hyper-parameters {sorted(unknown)}; known: {HYPERPARAMETERS}")
    return SparsenessSetting(**{name: float(value) for name, value in values.items()})

"""The self-tuning-network strategy of DARTS-STN (seed 002, Algorithm 2, eq. 22-24).

The supernet's weights phi (elementary and best-response weights of its STN layers) are
trained at perturbed hyper-parameters lambda + eps, eps ~ N(0, diag(sigma^2)) (eq. 22), so
that they learn how the best response changes around lambda. After every ``t_train`` such
weight steps come ``t_val`` hyper-parameter steps on validation batches, descending

    E_eps[ L_val(lambda + eps, w_phi(lambda + eps)) ] - tau * H[N(0, diag(sigma^2))]

in lambda and in the perturbation scale sigma (eq. 24), with the reparameterisation
eps = sigma * z, z ~ N(0, I). The Gaussian's entropy is sum(log sigma) + const, so tau keeps
sigma from collapsing to zero. sigma is kept as log sigma, clamped to a sane range.

The model must expose ``hyper_vector()`` (lambda as one flat tensor built from its
``arch_parameters()``) and ``forward(x, hyper, dropout=...)``; dropout is off in the
validation steps (a dropout rate then acts on the validation loss only through the
best-response weights, as in STNs). One perturbation is drawn per batch.

Under ``torchrun`` every rank draws the same perturbations (same seeded generator) and both
optimisers average their gradients over the ranks before they step, so lambda, sigma and the
optimisers' state stay identical on every rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from expression_nas import distributed

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class StnSettings:
    t_train: int = 2  # weight steps per round
    t_val: int = 1  # hyper-parameter steps per round
    tau: float = 1e-3  # entropy weight
    sigma_init: float = 0.1  # initial perturbation scale of every hyper-parameter
    sigma_lr: float = 3e-3
    sigma_min: float = 1e-4
    sigma_max: float = 2.0

    def __post_init__(self) -> None:
        if self.t_train < 1 or self.t_val < 1:
            raise ValueError("stn.t_train and stn.t_val must be >= 1")
        if not 0 < self.sigma_min <= self.sigma_init <= self.sigma_max:
            raise ValueError("stn: need 0 < sigma_min <= sigma_init <= sigma_max")
        if self.tau < 0:
            raise ValueError(f"stn.tau must be >= 0, got {self.tau}")


class StnStrategy:
    """Algorithm 2 as a ``nas.search_loop.SearchStrategy``."""

    def __init__(
        self,
        model: nn.Module,
        settings: StnSettings,
        arch_lr: float,
        arch_weight_decay: float,
        seed: int = 0,
    ) -> None:
        self.settings = settings
        hyper = model.hyper_vector()
        self.log_sigma = torch.full(
            (hyper.numel(),), math.log(settings.sigma_init), device=hyper.device, requires_grad=True
        )
        # Weight decay (DARTS' on the alphas) would pull dropout logits to 0, i.e. a rate of 0.5.
        dropout = getattr(model, "dropout_logits", None)
        groups = [
            {
                "params": [p for p in model.arch_parameters() if p is not dropout],
                "weight_decay": arch_weight_decay,
            }
        ]
        if dropout is not None:
            groups.append({"params": [dropout], "weight_decay": 0.0})
        self.hyper_optimizer = torch.optim.Adam(groups, lr=arch_lr, betas=(0.5, 0.999))
        self.sigma_optimizer = torch.optim.Adam([self.log_sigma], lr=settings.sigma_lr)
        distributed.average_gradients_before_step(self.hyper_optimizer)
        distributed.average_gradients_before_step(self.sigma_optimizer)
        # on the CPU, so a checkpoint resumes on any device
        self.generator = torch.Generator().manual_seed(seed)
        self.weight_steps = 0

    def _perturbation(self, like: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(like.shape, generator=self.generator, dtype=like.dtype)
        return self.log_sigma.exp() * noise.to(like.device)

    def weight_logits(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Logits at lambda + eps, both held fixed: the weight step trains phi only."""
        self.weight_steps += 1
        hyper = model.hyper_vector().detach()
        return model(inputs, (hyper + self._perturbation(hyper)).detach())

    def arch_step(
        self, model: nn.Module, train_batch: Batch, val_batches: Iterator[Batch], lr: float
    ) -> bool:
        """``t_val`` hyper-parameter steps, once every ``t_train`` weight steps."""
        if self.weight_steps == 0 or self.weight_steps % self.settings.t_train:
            return True
        finite = True
        hyper_parameters = model.arch_parameters()
        for _ in range(self.settings.t_val):
            inputs, targets = next(val_batches)
            hyper = model.hyper_vector()
            logits = model(inputs, hyper + self._perturbation(hyper), dropout=False)
            entropy = self.log_sigma.sum()
            objective = F.cross_entropy(logits, targets) - self.settings.tau * entropy
            if not distributed.all_agree(bool(torch.isfinite(objective))):
                finite = False
                continue
            grads = torch.autograd.grad(objective, [*hyper_parameters, self.log_sigma])
            for parameter, grad in zip(hyper_parameters, grads[:-1], strict=True):
                parameter.grad = grad
            self.log_sigma.grad = grads[-1]
            self.hyper_optimizer.step()
            self.sigma_optimizer.step()
            self.hyper_optimizer.zero_grad(set_to_none=True)
            self.sigma_optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                self.log_sigma.clamp_(
                    math.log(self.settings.sigma_min), math.log(self.settings.sigma_max)
                )
        return finite

    def sigma(self) -> torch.Tensor:
        return self.log_sigma.detach().exp()

    def snapshot(self) -> dict[str, Any]:
        sigma = self.sigma()
        return {
            "sigma_mean": float(sigma.mean()),
            "sigma_min": float(sigma.min()),
            "sigma_max": float(sigma.max()),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "log_sigma": self.log_sigma.detach().clone(),
            "hyper_optimizer": self.hyper_optimizer.state_dict(),
            "sigma_optimizer": self.sigma_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "weight_steps": self.weight_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.log_sigma.copy_(state["log_sigma"])
        self.hyper_optimizer.load_state_dict(state["hyper_optimizer"])
        self.sigma_optimizer.load_state_dict(state["sigma_optimizer"])
        self.generator.set_state(state["generator"])
        self.weight_steps = state["weight_steps"]

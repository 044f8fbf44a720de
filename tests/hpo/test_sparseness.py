"""Seed 001's sparseness, fitting and objective terms against hand computations."""

from __future__ import annotations

import pytest
import torch

from expression_nas.hpo.sparseness import (
    FittingWeights,
    SparsenessSetting,
    fitting_loss,
    l1_l2_ratio,
    objective,
    sparseness_penalty,
    task_loss,
)
from expression_nas.models.registry import build_model
from expression_nas.models.surrogate_net import SparseOutputs, surrogate_spec


def _pair():
    torch.manual_seed(0)
    original = build_model(surrogate_spec("lenet", 3, 1, 16))
    surrogate = build_model(surrogate_spec("lenet", 3, 1, 16, part="surrogate"))
    return original, surrogate


def test_the_sparseness_penalty_is_eq_2_to_4_with_batch_means():
    original, _ = _pair()
    head = original.head
    z = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    x = torch.tensor([[0.5, -0.5, 1.0], [2.0, 0.0, 0.0]])
    outputs = SparseOutputs(z=z, x=x, logits=torch.zeros(2, 3))
    setting = SparsenessSetting(lambda_z=0.1, lambda_x=0.2, lambda_V=0.01, lambda_W=0.02)
    expected = (
        0.1 * (3.0 + 3.0) / 2
        + 0.2 * (2.0 + 2.0) / 2
        + 0.01 * head.V.abs().sum().item()
        + 0.02 * head.W.abs().sum().item()
    )
    assert sparseness_penalty(outputs, head, setting).item() == pytest.approx(expected, rel=1e-6)
    assert sparseness_penalty(outputs, head, SparsenessSetting()).item() == 0.0
    targets = torch.tensor([0, 2])
    loss = task_loss(outputs, targets, head, setting).item()
    assert loss == pytest.approx(
        torch.nn.functional.cross_entropy(outputs.logits, targets).item() + expected, rel=1e-6
    )


def test_the_fitting_loss_is_half_squared_distances_weighted_by_eta():
    original, surrogate = _pair()
    images = torch.rand(4, 1, 16, 16)
    ours, theirs = original.outputs(images), surrogate.outputs(images)
    eta = FittingWeights(x=0.1, z=0.2, W=0.3, V=0.4)
    expected = (
        0.1 * 0.5 * (ours.x - theirs.x).pow(2).sum(dim=1).mean()
        + 0.2 * 0.5 * (ours.z - theirs.z).pow(2).sum(dim=1).mean()
        + 0.3 * 0.5 * (original.head.W - surrogate.head.W).pow(2).sum()
        + 0.4 * 0.5 * (original.head.V - surrogate.head.V).pow(2).sum()
    )
    loss = fitting_loss(ours, original.head, theirs, surrogate.head, eta)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_fitting_loss_moves_the_surrogate_only():
    original, surrogate = _pair()
    images = torch.rand(4, 1, 16, 16)
    loss = fitting_loss(
        original.outputs(images), original.head, surrogate.outputs(images), surrogate.head
    )
    loss.backward()
    assert all(p.grad is None for p in original.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in surrogate.parameters())
    # eq. 10: the gradient of 0.5 ||V^s - V^o||^2 (times eta) w.r.t. V^s is eta (V^s - V^o)
    surrogate.zero_grad()
    fitting_loss(
        original.outputs(images),
        original.head,
        surrogate.outputs(images),
        surrogate.head,
        FittingWeights(x=0.0, z=0.0, W=0.0, V=1.0),
    ).backward()
    assert torch.allclose(surrogate.head.V.grad, surrogate.head.V - original.head.V)


def test_the_objective_subtracts_kappa_times_the_mean_l1_l2_ratio():
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    ratios = l1_l2_ratio(x)
    assert ratios.tolist() == pytest.approx([7 / 5, 1.0, 0.0])
    assert objective(0.5, ratios.mean().item(), kappa=0.1) == pytest.approx(0.5 - 0.1 * 0.8)


def test_a_setting_refuses_impossible_values_and_settings_a_head_lacks():
    with pytest.raises(ValueError, match="p_x"):
        SparsenessSetting(p_x=1.0)
    with pytest.raises(ValueError, match="lambda_V"):
        SparsenessSetting(lambda_V=-1e-5)
    head = build_model(surrogate_spec("resnet20", 3, 1, 16)).head
    with pytest.raises(ValueError, match="one FC layer"):
        SparsenessSetting(p_W=0.5).check_fits(head)

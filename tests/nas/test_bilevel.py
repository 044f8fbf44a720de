import copy

import torch
from torch import nn

from expression_nas.nas.bilevel import finite_difference_hvp, second_order_arch_step


class ToySearchable(nn.Module):
    """Logits = x @ (W * softmax(a)) with one architecture vector a and weights W."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = nn.Parameter(torch.randn(4, 3, generator=generator, dtype=torch.float64))
        self.alpha = nn.Parameter(torch.randn(3, generator=generator, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.weight * torch.softmax(self.alpha, 0))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [self.weight]


def _batches():
    generator = torch.Generator().manual_seed(1)
    x_train = torch.randn(16, 4, generator=generator, dtype=torch.float64)
    x_val = torch.randn(16, 4, generator=generator, dtype=torch.float64)
    y_train = torch.randint(0, 3, (16,), generator=generator)
    y_val = torch.randint(0, 3, (16,), generator=generator)
    return (x_train, y_train), (x_val, y_val)


def _exact_unrolled_gradient(model, train, val, xi, weight_decay):
    """d/da L_val(w - xi * (dL_train/dw + wd * w), a) by autograd through the inner step."""
    loss = nn.functional.cross_entropy(model(train[0]), train[1])
    (grad_w,) = torch.autograd.grad(loss, model.weight, create_graph=True)
    unrolled_w = model.weight - xi * (grad_w + weight_decay * model.weight)
    logits = val[0] @ (unrolled_w * torch.softmax(model.alpha, 0))
    (grad_a,) = torch.autograd.grad(nn.functional.cross_entropy(logits, val[1]), model.alpha)
    return grad_a


def test_second_order_hypergradient_matches_exact_autograd():
    model = ToySearchable()
    train, val = _batches()
    xi, weight_decay = 0.5, 3e-4
    exact = _exact_unrolled_gradient(copy.deepcopy(model), train, val, xi, weight_decay)

    optimizer = torch.optim.SGD(model.arch_parameters(), lr=0.0)  # keep alpha, read its grad
    weights_before = model.weight.detach().clone()
    second_order_arch_step(model, optimizer, train, val, xi=xi, weight_decay=weight_decay)
    torch.testing.assert_close(model.alpha.grad, exact, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(model.weight.detach(), weights_before)  # weights restored
    first_order = torch.autograd.grad(
        nn.functional.cross_entropy(model(val[0]), val[1]), model.alpha
    )[0]
    assert not torch.allclose(first_order, exact, atol=1e-4)  # the correction matters here


def test_finite_difference_hvp_matches_autograd():
    model = ToySearchable()
    train, _ = _batches()
    vector = [torch.randn_like(model.weight)]
    loss = nn.functional.cross_entropy(model(train[0]), train[1])
    (grad_a,) = torch.autograd.grad(loss, model.alpha, create_graph=True)
    # mixed second derivative applied to the vector: sum_j d2L/(da_i dw_j) v_j, per i
    rows = []
    for i in range(3):
        (row,) = torch.autograd.grad(grad_a[i], model.weight, retain_graph=True)
        rows.append((row * vector[0]).sum())
    expected = torch.stack(rows)
    (approx,) = finite_difference_hvp(model, vector, train)
    torch.testing.assert_close(approx, expected, rtol=1e-4, atol=1e-7)

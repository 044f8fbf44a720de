import pytest
import torch

from expression_nas.nas.rnas.attention import ATTENTIONS, build_attention
from expression_nas.nas.rnas.operations import (
    FAST_OPERATIONS,
    HYBRID_OPERATIONS,
    OPERATIONS,
    PLAIN_3D_OPERATIONS,
    downsample_chain,
    fast_pool,
    path_error,
)

ODD_SHAPE = (2, 4, 5, 7, 9)


@pytest.mark.parametrize("name", list(OPERATIONS))
@pytest.mark.parametrize("affine", [False, True])
def test_operation_keeps_shape_and_passes_gradients(name, affine):
    op = OPERATIONS[name](ODD_SHAPE[1], affine=affine)
    x = torch.randn(*ODD_SHAPE, requires_grad=True)
    y = op(x)
    assert y.shape == x.shape
    (y * torch.randn_like(y)).sum().backward()
    if name == "none":
        assert not x.grad.any()
    else:
        assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_operation_accepts_tiny_inputs(name):
    x = torch.randn(1, 2, 1, 2, 1)
    assert OPERATIONS[name](2).eval()(x).shape == x.shape


def test_operation_sets():
    assert set(HYBRID_OPERATIONS) == set(OPERATIONS)
    assert set(PLAIN_3D_OPERATIONS) < set(HYBRID_OPERATIONS)
    hybrid_only = {"conv_1x1x1", "conv_2plus1d_3", "spatial_conv_1x3x3", "temporal_conv_3x1x1"}
    assert not hybrid_only & set(PLAIN_3D_OPERATIONS)


@pytest.mark.parametrize("table", [OPERATIONS, FAST_OPERATIONS])
def test_average_pool_ignores_padding(table):
    x = torch.ones(1, 1, 3, 4, 5)
    assert torch.allclose(table["avg_pool_3x3x3"](1)(x), x)


@pytest.mark.parametrize("name", ["avg_pool_3x3x3", "max_pool_3x3x3"])
@pytest.mark.parametrize("shape", [(2, 4, 8, 20, 20), ODD_SHAPE, (1, 2, 1, 2, 1), (2, 3, 2, 1, 3)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last_3d])
def test_fast_pooling_is_the_same_function(name, shape, layout):
    """Values and input gradients equal the straightforward pooling's in float64, on inputs
    of three values (so with many tied maxima, whose gradient must reach the same element)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, shape, generator=generator).to(torch.float64)
    x = x.contiguous(memory_format=layout).requires_grad_()
    g = torch.randn(shape, generator=generator, dtype=torch.float64)
    plain, fast = OPERATIONS[name](shape[1]), FAST_OPERATIONS[name](shape[1])
    expected = plain(x)
    (expected_grad,) = torch.autograd.grad(expected, x, g)
    for y in (fast(x), fast_pool(plain, x)):
        torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
        (grad,) = torch.autograd.grad(y, x, g)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ATTENTIONS)
@pytest.mark.parametrize("channels", [1, 4, 40])
def test_attention_keeps_shape_and_passes_gradients(name, channels):
    module = build_attention(name, channels)
    x = torch.randn(2, channels, 5, 7, 9, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad.abs().sum() > 0
    if name != "none":
        assert any(p.grad is not None for p in module.parameters())


def test_unknown_attention_is_refused():
    with pytest.raises(ValueError, match="unknown attention"):
        build_attention("temporal", 4)


def test_downsample_halves_rounding_up_and_never_below_one():
    chain = downsample_chain(4, 0, 2, affine=True)
    assert chain(torch.randn(2, 4, 5, 7, 1)).shape == (2, 16, 2, 2, 1)


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ([0, 0, 1, 1, 2, 2], True),
        ([1, 2, 2], True),
        ([0, 2], False),
        ([1, 0], False),
        ([0, 3], False),
    ],
)
def test_path_error(path, ok):
    assert (path_error(path, 3) is None) is ok

import pytest
import torch

from expression_nas.nas.rnas.attention import ATTENTIONS, build_attention
from expression_nas.nas.rnas.operations import (
    HYBRID_OPERATIONS,
    OPERATIONS,
    PLAIN_3D_OPERATIONS,
    downsample_chain,
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


def test_average_pool_ignores_padding():
    x = torch.ones(1, 1, 3, 4, 5)
    assert torch.allclose(OPERATIONS["avg_pool_3x3x3"](1)(x), x)


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

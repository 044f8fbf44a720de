import pytest
import torch
from torch import nn
from torch.nn import functional as F

from expression_nas.nas.stn import HyperContext, StnConv2d, StnLinear

N_HYPER = 5
CONV = {"stride": 2, "padding": 2, "dilation": 2, "groups": 2}


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _conv(bias: bool) -> StnConv2d:
    torch.manual_seed(0)
    context = HyperContext(N_HYPER)
    return StnConv2d(context, 4, 6, 3, bias=bias, **CONV).double()


def _linear() -> StnLinear:
    torch.manual_seed(0)
    return StnLinear(HyperContext(N_HYPER), 7, 3).double()


def _randomise_scales(layer: nn.Module) -> None:
    for scale in (layer.weight_scale, layer.bias_scale):
        if scale is not None:
            nn.init.normal_(scale.weight)


def _elementary_conv(layer: StnConv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, layer.elementary.weight, layer.elementary.bias, **CONV)


def test_reading_an_unset_context_raises():
    layer = StnLinear(HyperContext(N_HYPER), 3, 2)
    with pytest.raises(RuntimeError, match="no hyper-parameters set"):
        layer(torch.randn(2, 3))


@pytest.mark.parametrize("bias", [False, True])
def test_fresh_conv_is_its_elementary_layer(bias):
    layer = _conv(bias)
    assert not layer.weight_scale.weight.any()
    assert layer.bias_scale is None or not layer.bias_scale.weight.any()
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64)
    layer.context.value = torch.randn(N_HYPER, dtype=torch.float64)
    assert torch.equal(layer(x), _elementary_conv(layer, x))
    # non-zero V, C but a zero hyper-parameter vector: no correction either
    _randomise_scales(layer)
    layer.context.value = torch.zeros(N_HYPER, dtype=torch.float64)
    assert torch.equal(layer(x), _elementary_conv(layer, x))


def test_fresh_linear_is_its_elementary_layer():
    layer = _linear()
    assert not layer.weight_scale.weight.any() and not layer.bias_scale.weight.any()
    x = torch.randn(4, 7, dtype=torch.float64)
    layer.context.value = torch.randn(N_HYPER, dtype=torch.float64)
    expected = x @ layer.elementary.weight.T + layer.elementary.bias
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)
    _randomise_scales(layer)
    layer.context.value = torch.zeros(N_HYPER, dtype=torch.float64)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("bias", [False, True])
def test_conv_matches_equation_21(bias):
    layer = _conv(bias)
    _randomise_scales(layer)
    hyper = torch.randn(N_HYPER, dtype=torch.float64)
    layer.context.value = hyper
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64)
    v_lambda = layer.weight_scale.weight @ hyper  # [out]
    expected = _elementary_conv(layer, x) + v_lambda[None, :, None, None] * F.conv2d(
        x, layer.hyper.weight, None, **CONV
    )
    if bias:
        c_lambda = layer.bias_scale.weight @ hyper
        expected = expected + (c_lambda * layer.hyper.bias)[None, :, None, None]
    out = layer(x)
    assert out.shape == (2, 6, 5, 4)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    # ... which is the conv with the best-response weights of eq. (20)
    weight = layer.elementary.weight + v_lambda[:, None, None, None] * layer.hyper.weight
    bias_vector = None
    if bias:
        bias_vector = layer.elementary.bias + (layer.bias_scale.weight @ hyper) * layer.hyper.bias
    torch.testing.assert_close(out, F.conv2d(x, weight, bias_vector, **CONV))


def test_linear_matches_equation_21():
    layer = _linear()
    _randomise_scales(layer)
    hyper = torch.randn(N_HYPER, dtype=torch.float64)
    layer.context.value = hyper
    x = torch.randn(4, 7, dtype=torch.float64)
    v_lambda, c_lambda = layer.weight_scale.weight @ hyper, layer.bias_scale.weight @ hyper
    expected = (
        x @ layer.elementary.weight.T
        + layer.elementary.bias
        + v_lambda * (x @ layer.hyper.weight.T)
        + c_lambda * layer.hyper.bias
    )
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_gradients_reach_the_scales_the_hyper_weights_and_the_hyper_vector(kind):
    layer = _conv(bias=True) if kind == "conv" else _linear()
    x = (
        torch.randn(2, 4, 9, 8, dtype=torch.float64)
        if kind == "conv"
        else torch.randn(4, 7, dtype=torch.float64)
    )
    hyper = torch.randn(N_HYPER, dtype=torch.float64, requires_grad=True)
    layer.context.value = hyper
    # fresh layer (V = C = 0): V and C still get a gradient, so the response can be learnt
    layer(x).square().sum().backward()
    assert layer.weight_scale.weight.grad.abs().sum() > 0
    assert layer.bias_scale.weight.grad.abs().sum() > 0
    assert not hyper.grad.any() and not layer.hyper.weight.grad.any()
    layer.zero_grad()
    hyper.grad = None
    _randomise_scales(layer)
    layer(x).square().sum().backward()
    for parameter in (
        layer.weight_scale.weight,
        layer.bias_scale.weight,
        layer.hyper.weight,
        layer.hyper.bias,
        layer.elementary.weight,
        hyper,
    ):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0

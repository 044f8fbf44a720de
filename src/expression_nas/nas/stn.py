"""Self-tuning network (STN) layers: a layer whose weights are an affine function of the
hyper-parameters (seed 002, eq. 20-21), so that one network approximates the best-response
weights w*(lambda) in a neighbourhood of the current hyper-parameters.

The correction is applied to the pre-activations, which costs a second convolution instead of
materialising per-sample weights:

    y = [W_elem * x + b_elem] + (V lambda) (.) (W_hyper * x) + (C lambda) (.) b_hyper

(V lambda and C lambda scale output channels). All layers of one network read the current
hyper-parameter vector from a shared ``HyperContext`` that the network sets before each
forward pass, so the operations that contain these layers need no extra arguments.

V and C start at zero: a fresh STN layer computes exactly its plain (elementary) layer.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn
from torch.nn import functional as F

#: ``F.conv2d(input, weight, bias, stride, padding, dilation, groups)`` or an equivalent.
Conv2dFunction = Callable[..., Tensor]


class HyperContext:
    """The hyper-parameter vector [n_hyper] that every STN layer of a network reads."""

    def __init__(self, n_hyper: int) -> None:
        self.n_hyper = n_hyper
        self.value: Tensor | None = None

    def read(self) -> Tensor:
        if self.value is None:
            raise RuntimeError("no hyper-parameters set: the network must set them before use")
        return self.value


class StnConv2d(nn.Module):
    """A Conv2d with the best-response correction of eq. (21)."""

    def __init__(
        self,
        context: HyperContext,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.context = context
        settings = {
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
        }
        self.elementary = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias, **settings)
        self.hyper = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias, **settings)
        self.weight_scale = nn.Linear(context.n_hyper, out_channels, bias=False)  # V
        self.bias_scale = nn.Linear(context.n_hyper, out_channels, bias=False) if bias else None
        nn.init.zeros_(self.weight_scale.weight)
        if self.bias_scale is not None:
            nn.init.zeros_(self.bias_scale.weight)

    def forward(self, x: Tensor, conv2d: Conv2dFunction = F.conv2d) -> Tensor:
        """``conv2d`` (``F.conv2d``'s signature) computes both convolutions, e.g. a faster
        equivalent of it."""
        hyper = self.context.read()
        scale = self.weight_scale(hyper)[:, None, None]
        settings = (self.hyper.stride, self.hyper.padding, self.hyper.dilation, self.hyper.groups)
        correction = scale * conv2d(x, self.hyper.weight, None, *settings)
        if self.bias_scale is not None:
            correction = correction + (self.bias_scale(hyper) * self.hyper.bias)[:, None, None]
        elementary = self.elementary
        return conv2d(x, elementary.weight, elementary.bias, *settings) + correction


class StnLinear(nn.Module):
    """A Linear layer with the best-response correction of eq. (20)-(21)."""

    def __init__(self, context: HyperContext, in_features: int, out_features: int) -> None:
        super().__init__()
        self.context = context
        self.elementary = nn.Linear(in_features, out_features)
        self.hyper = nn.Linear(in_features, out_features)
        self.weight_scale = nn.Linear(context.n_hyper, out_features, bias=False)  # V
        self.bias_scale = nn.Linear(context.n_hyper, out_features, bias=False)  # C
        nn.init.zeros_(self.weight_scale.weight)
        nn.init.zeros_(self.bias_scale.weight)

    def forward(self, x: Tensor) -> Tensor:
        hyper = self.context.read()
        correction = (
            self.weight_scale(hyper) * F.linear(x, self.hyper.weight)
            + self.bias_scale(hyper) * self.hyper.bias
        )
        return self.elementary(x) + correction

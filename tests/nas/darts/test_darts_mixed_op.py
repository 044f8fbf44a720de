"""The fast DARTS supernet computes the same function as the straightforward construction:
the same initial weights, logits, gradients of weights and alphas, and batch-norm statistics."""

from typing import get_args

import pytest
import torch
from supernet_equivalence import assert_same_step
from torch.nn import functional as F

from expression_nas.nas.darts.fast_conv import conv2d
from expression_nas.nas.darts.mixed_op import MixedOp, ReferenceMixedOp
from expression_nas.nas.darts.operations import PRIMITIVES, plain_conv
from expression_nas.nas.darts.search_space import MEMORY_MODES, DartsSearchConfig, DartsSupernet
from expression_nas.nas.stn import StnConv2d, StnLinear
from expression_nas.parameters.darts_fer import DartsSearchSpaceParams

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _pair(memory: str, stn: bool, **settings) -> tuple[DartsSupernet, DartsSupernet]:
    """The reference and the fast supernet, built from the same seed."""
    config = {"channels": 4, "layers": 3, "nodes": 2, "stn": stn, "tune_dropout": stn} | settings
    torch.manual_seed(0)
    reference = DartsSupernet(DartsSearchConfig(reference=True, arch_init_scale=1.0, **config))
    torch.manual_seed(0)
    fast = DartsSupernet(DartsSearchConfig(memory=memory, arch_init_scale=1.0, **config))
    if stn:  # non-zero best-response scales, so that the hyper path is exercised too
        generator = torch.Generator().manual_seed(1)
        for net in (reference, fast):
            generator.manual_seed(1)
            for module in net.modules():
                if isinstance(module, StnConv2d | StnLinear):
                    scale = module.weight_scale.weight
                    scale.data = 0.1 * torch.randn(scale.shape, generator=generator)
    return reference, fast


@pytest.mark.parametrize("stn", [False, True])
@pytest.mark.parametrize("memory", ["lean", "fast"])
def test_fast_supernet_matches_the_reference(memory, stn):
    reference, fast = _pair(memory, stn)
    assert [isinstance(m, ReferenceMixedOp) for m in reference.modules()].count(True) == 15
    assert [isinstance(m, MixedOp) for m in fast.modules()].count(True) == 15
    # the same parameters and buffers under the same names, drawn from the same seed
    reference_state, fast_state = reference.state_dict(), fast.state_dict()
    assert list(reference_state) == list(fast_state)
    for name, value in reference_state.items():
        assert torch.equal(value, fast_state[name]), name

    generator = torch.Generator().manual_seed(2)
    for _ in range(2):  # a second step sees the updated batch-norm statistics of the first
        x = torch.randn(6, 1, 17, 15, generator=generator)  # odd sizes: uneven reductions
        y = torch.randint(0, 7, (6,), generator=generator)
        assert_same_step(reference, fast, x, y, 1e-4)

    reference.eval(), fast.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), reference(x), rtol=1e-4, atol=1e-5)


def test_either_construction_loads_the_others_weights():
    reference, fast = _pair("lean", stn=False)
    torch.manual_seed(5)
    other = DartsSupernet(DartsSearchConfig(channels=4, layers=3, nodes=2))
    reference.load_state_dict(other.state_dict())
    fast.load_state_dict(reference.state_dict())


@pytest.mark.parametrize("operations", [("none",), ("none", "skip_connect"), ("max_pool_3x3",)])
@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_with_few_operations(operations, stride):
    torch.manual_seed(0)
    reference = ReferenceMixedOp(4, stride, operations, plain_conv)
    torch.manual_seed(0)
    fast = MixedOp(4, stride, operations, plain_conv, recompute=True)
    x = torch.randn(2, 4, 7, 6, requires_grad=True)
    weights = torch.softmax(torch.randn(len(operations)), 0).requires_grad_()
    expected, out = reference(x, weights), fast(x, weights)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(
        torch.autograd.grad(out.sum(), [x, weights], allow_unused=True, materialize_grads=True),
        torch.autograd.grad(
            expected.sum(), [x, weights], allow_unused=True, materialize_grads=True
        ),
    )


def test_the_mixed_op_of_every_primitive_matches_at_both_strides():
    for stride in (1, 2):
        torch.manual_seed(0)
        reference = ReferenceMixedOp(4, stride, PRIMITIVES, plain_conv)
        torch.manual_seed(0)
        fast = MixedOp(4, stride, PRIMITIVES, plain_conv)
        x = torch.randn(2, 4, 9, 8).contiguous(memory_format=torch.channels_last)
        weights = torch.softmax(torch.randn(len(PRIMITIVES)), 0).requires_grad_()
        x.requires_grad_()
        expected, out = reference(x, weights), fast(x, weights)
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
        grads = torch.autograd.grad(out.square().sum(), [x, weights])
        expected_grads = torch.autograd.grad(expected.square().sum(), [x, weights])
        torch.testing.assert_close(grads, expected_grads, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("kernel", "dilation", "stride"),
    [(3, 1, 1), (5, 1, 1), (3, 2, 1), (5, 2, 1), (3, 2, 2), (5, 2, 2), (5, 1, 2)],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_depthwise_conv_is_f_conv2d_twice_differentiable(
    kernel, dilation, stride, channels_last
):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 6, generator=generator, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    weight = torch.randn(3, 1, kernel, kernel, generator=generator, dtype=torch.float64)
    weight.requires_grad_()
    padding = dilation * (kernel - 1) // 2

    def fast(x, weight):
        return conv2d(x, weight, None, stride, padding, dilation, 3)

    torch.testing.assert_close(
        fast(x, weight), F.conv2d(x, weight, None, stride, padding, dilation, 3)
    )
    assert torch.autograd.gradcheck(fast, (x, weight))
    assert torch.autograd.gradgradcheck(fast, (x, weight))


def test_fast_conv2d_leaves_other_convolutions_to_f_conv2d():
    x = torch.randn(2, 4, 8, 8)
    for weight, settings in [
        (torch.randn(6, 4, 3, 3), (1, 1, 1, 1)),  # dense
        (torch.randn(4, 1, 3, 3), (1, 0, 1, 4)),  # "valid" padding
        (torch.randn(4, 2, 3, 3), (1, 2, 2, 2)),  # grouped, not depthwise
    ]:
        torch.testing.assert_close(
            conv2d(x, weight, None, *settings), F.conv2d(x, weight, None, *settings)
        )


def test_memory_mode_is_checked_and_offered_as_a_parameter():
    with pytest.raises(ValueError, match="memory must be one of"):
        DartsSearchConfig(memory="tiny")
    choices = get_args(DartsSearchSpaceParams.model_fields["memory"].annotation)
    assert choices == MEMORY_MODES
    assert DartsSearchSpaceParams().memory == DartsSearchConfig().memory


def test_recomputed_edges_see_the_parameters_of_a_functional_call():
    """The recomputation in the backward pass runs after ``functional_call`` has put the
    module's own parameters back; it must still use the ones of the forward pass."""
    _, lean = _pair("lean", stn=False)
    _, kept = _pair("fast", stn=False)
    x, y = torch.randn(3, 1, 12, 12), torch.tensor([0, 3, 6])
    gradients = []
    for net in (lean, kept):
        params = {name: 1.1 * p.detach() for name, p in net.named_parameters()}
        for p in params.values():
            p.requires_grad_()
        loss = F.cross_entropy(torch.func.functional_call(net, params, (x,)), y)
        gradients.append(torch.autograd.grad(loss, list(params.values())))
    torch.testing.assert_close(gradients[0], gradients[1], rtol=1e-4, atol=1e-6)

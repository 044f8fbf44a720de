"""The fast RNAS supernet computes the same function as the straightforward construction: the
same initial weights, logits, gradients of weights and of alpha, beta and eta, and batch-norm
statistics (the reference without recomputation, whose statistics are updated once)."""

import pytest
import torch
from supernet_equivalence import assert_same_step
from torch import nn

from expression_nas.nas.rnas.mixed_op import MixedOp, ReferenceMixedOp
from expression_nas.nas.rnas.operations import HYBRID_OPERATIONS
from expression_nas.nas.rnas.search_space import RnasSearchConfig, RnasSupernet

pytestmark = pytest.mark.usefixtures("single_torch_thread")

SPACE = {"layers": 3, "nodes": 2, "channels": 4, "levels": 2, "num_classes": 3}


def _pair(
    recompute: bool, k: int, dtype=torch.float32, operations=HYBRID_OPERATIONS
) -> tuple[RnasSupernet, RnasSupernet]:
    settings = SPACE | {"partial_channel_k": k, "operations": operations}
    torch.manual_seed(0)
    reference = RnasSupernet(RnasSearchConfig(reference=True, checkpoint_edges=False, **settings))
    torch.manual_seed(0)
    fast = RnasSupernet(RnasSearchConfig(checkpoint_edges=recompute, **settings))
    reference, fast = reference.to(dtype), fast.to(dtype)
    with torch.no_grad():  # architecture weights far from uniform, so that each one matters
        generator = torch.Generator().manual_seed(1)
        for a, b in zip(reference.arch_parameters(), fast.arch_parameters(), strict=True):
            a.copy_(torch.randn(a.shape, generator=generator))
            b.copy_(a)
    return reference, fast


@pytest.mark.parametrize(
    ("dtype", "steps", "tolerance"),
    [(torch.float64, 2, 1e-9), (torch.float32, 1, 1e-4)],  # float32: oneDNN's kernels
)
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("recompute", [False, True])
def test_fast_supernet_matches_the_reference(recompute, k, dtype, steps, tolerance):
    """In float64, to 1e-9 of each gradient's largest entry over two steps; in float32 (where
    batch norm over a few values amplifies rounding), to 1e-4 after one."""
    reference, fast = _pair(recompute, k, dtype)
    assert sum(isinstance(m, ReferenceMixedOp) for m in reference.modules()) > 0
    assert sum(isinstance(m, MixedOp) for m in fast.modules()) > 0
    reference_state, fast_state = reference.state_dict(), fast.state_dict()
    assert list(reference_state) == list(fast_state)
    for name, value in reference_state.items():
        assert torch.equal(value, fast_state[name]), name

    generator = torch.Generator().manual_seed(2)
    for _ in range(steps):  # a second step sees the statistics and weights after the first
        x = torch.randn(2, 1, 5, 9, 7, generator=generator, dtype=dtype)  # odd sizes
        y = torch.randint(0, 3, (2,), generator=generator)
        assert_same_step(reference, fast, x, y, tolerance)
    reference.eval(), fast.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), reference(x), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(
    "operations",
    [("none", "skip_connect"), ("max_pool_3x3x3", "conv_1x1x1"), ("avg_pool_3x3x3", "conv_1x1x1")],
)
def test_fast_supernet_matches_the_reference_on_operation_subsets(operations):
    """Edges whose only operations are parameter-free, or pooling beside one convolution."""
    reference, fast = _pair(recompute=True, k=2, dtype=torch.float64, operations=operations)
    generator = torch.Generator().manual_seed(2)
    for _ in range(2):
        x = torch.randn(2, 1, 5, 9, 7, generator=generator, dtype=torch.float64)
        y = torch.randint(0, 3, (2,), generator=generator)
        assert_same_step(reference, fast, x, y, 1e-9)


def test_pooling_norms_with_unequal_statistics_are_applied_one_by_one():
    """The cell normalises a source's pooling once for all its edges only while their running
    statistics are equal; otherwise (e.g. loaded from elsewhere) each edge uses its own."""
    reference, fast = _pair(recompute=False, k=2)
    with torch.no_grad():
        for net in (reference, fast):
            pool_norm = net.cells["l0_s0"].mixed[0].ops[1][1]  # the edge's avg_pool's norm
            assert isinstance(pool_norm, nn.BatchNorm3d)
            pool_norm.running_mean.fill_(0.5)
    reference.eval(), fast.eval()
    x = torch.randn(2, 1, 5, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), reference(x), rtol=1e-4, atol=1e-5)

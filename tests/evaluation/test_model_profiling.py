import pytest
import torch
from torch import nn

from expression_nas.evaluation import (
    count_flops,
    count_parameters,
    inference_latency_ms,
    peak_memory_mb,
    profile_model,
)


def test_parameter_counts_of_known_layers():
    assert count_parameters(nn.Linear(10, 3)) == 10 * 3 + 3
    conv = nn.Conv3d(2, 4, kernel_size=(3, 5, 5))
    assert count_parameters(conv) == 4 * 2 * 3 * 5 * 5 + 4
    conv.bias.requires_grad_(False)
    assert count_parameters(conv, trainable_only=True) == 4 * 2 * 3 * 5 * 5


def test_conv3d_flops_match_the_hand_formula():
    conv = nn.Conv3d(2, 4, kernel_size=3, stride=(1, 2, 2), padding=1)
    batch, t, h, w = 2, 6, 16, 16
    out_t, out_h, out_w = 6, 8, 8  # floor((n + 2*1 - 3) / stride) + 1
    # one multiply-add (2 FLOPs) per output element per input channel per kernel tap
    expected = 2 * batch * 4 * out_t * out_h * out_w * 2 * 3 * 3 * 3
    assert count_flops(conv, (batch, 2, t, h, w)) == expected


def test_peak_memory_covers_weights_and_activations():
    model = nn.Sequential(nn.Conv3d(1, 16, 3, padding=1), nn.ReLU())
    shape = (2, 1, 8, 32, 32)
    activation_mb = 2 * 16 * 8 * 32 * 32 * 4 / 2**20  # one float32 output of the conv
    peak = peak_memory_mb(model, shape, "cpu")
    assert peak >= activation_mb
    assert peak < 20 * activation_mb
    # larger inputs need more memory
    assert peak_memory_mb(model, (4, 1, 8, 32, 32), "cpu") > peak


def test_latency_and_profile_restore_the_training_mode():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    model.train()
    latency = inference_latency_ms(model, (1, 1, 4, 4, 4), "cpu", repeats=5, warmup=1)
    assert latency["median"] > 0
    assert latency["p90"] >= latency["median"]
    costs = profile_model(model, (1, 1, 4, 4, 4), "cpu")
    assert costs["parameters"] == 64 * 3 + 3
    assert costs["flops"] == 2 * 64 * 3
    assert costs["peak_memory_mb"] > 0
    assert model.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_profiling_on_cuda_puts_the_model_back():
    model = nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.ReLU())
    costs = profile_model(model, (2, 1, 8, 32, 32), "cuda")
    assert costs["peak_memory_mb"] >= 2 * 8 * 8 * 32 * 32 * 4 / 2**20
    assert next(model.parameters()).device.type == "cpu"

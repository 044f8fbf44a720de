import io
import math

import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from expression_nas.nas.darts.search_space import DartsSearchConfig, DartsSupernet
from expression_nas.nas.search_loop import SearchSettings, run_search
from expression_nas.nas.stn import StnConv2d
from expression_nas.nas.stn_search import StnSettings, StnStrategy

SIZE = 8
#: A reduced operation set (still with STN convolutions) keeps every test step cheap.
OPERATIONS = ("none", "max_pool_3x3", "skip_connect", "dil_conv_3x3")


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _supernet(seed: int = 0) -> DartsSupernet:
    torch.manual_seed(seed)
    config = DartsSearchConfig(
        channels=2,
        layers=3,
        nodes=2,
        operations=OPERATIONS,
        stn=True,
        tune_dropout=True,
        input_size=(SIZE, SIZE),
    )
    return DartsSupernet(config)


def _loaders(train_batches: int = 6, batch_size: int = 2):
    generator = torch.Generator().manual_seed(0)
    n = train_batches * batch_size
    x = torch.randn(n + 4, 1, SIZE, SIZE, generator=generator)
    y = torch.randint(0, 7, (n + 4,), generator=generator)
    train = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=batch_size)
    val = DataLoader(TensorDataset(x[n:], y[n:]), batch_size=2)
    return train, val


def _strategy(model, **overrides) -> StnStrategy:
    return StnStrategy(model, StnSettings(**overrides), arch_lr=0.05, arch_weight_decay=0.0)


def _hyper(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.arch_parameters()]


def _record_hyper_steps(strategy: StnStrategy) -> list[int]:
    """The strategy's weight-step count at every hyper-parameter optimiser step."""
    calls: list[int] = []
    step = strategy.hyper_optimizer.step

    def counting_step(*args, **kwargs):
        calls.append(strategy.weight_steps)
        return step(*args, **kwargs)

    strategy.hyper_optimizer.step = counting_step
    return calls


SETTINGS = SearchSettings(epochs=1, lr=0.05)


def test_weight_logits_do_not_depend_on_the_hyper_parameters():
    model = _supernet()
    strategy = _strategy(model)
    x, y = next(iter(_loaders()[0]))
    loss = F.cross_entropy(strategy.weight_logits(model, x), y)
    grads = torch.autograd.grad(loss, model.arch_parameters(), allow_unused=True)
    assert all(g is None for g in grads)
    assert strategy.weight_steps == 1


def test_weight_steps_train_phi_and_leave_the_hyper_parameters_alone():
    model = _supernet()
    strategy = _strategy(model, t_train=100)  # no hyper-parameter round within the run
    hyper, sigma = _hyper(model), strategy.sigma()
    weights = [p.detach().clone() for p in model.weight_parameters()]
    result = run_search(model, *_loaders(), SETTINGS, strategy=strategy)
    assert strategy.weight_steps == 6
    for before, after in zip(hyper, model.arch_parameters(), strict=True):
        assert torch.equal(before, after.detach())
    assert torch.equal(sigma, strategy.sigma())
    after = model.weight_parameters()
    changed = [not torch.equal(b, a.detach()) for b, a in zip(weights, after, strict=True)]
    assert all(changed)  # every weight moves, the best-response scales V included
    scales = [m.weight_scale.weight for m in model.modules() if isinstance(m, StnConv2d)]
    assert all(v.abs().sum() > 0 for v in scales)
    assert result.history[0]["skipped_steps"] == 0


@pytest.mark.parametrize(("t_train", "t_val", "epochs"), [(2, 1, 1), (3, 2, 2), (1, 1, 1)])
def test_hyper_steps_come_after_every_t_train_weight_steps(t_train, t_val, epochs):
    model = _supernet()
    strategy = _strategy(model, t_train=t_train, t_val=t_val)
    calls = _record_hyper_steps(strategy)
    hyper = _hyper(model)
    settings = SearchSettings(epochs=epochs, lr=0.05)
    run_search(model, *_loaders(train_batches=6), settings, strategy=strategy)
    weight_steps = 6 * epochs
    assert strategy.weight_steps == weight_steps
    # arch_step runs before each weight step, so a round is due after t_train, 2 t_train, ...
    rounds = list(range(t_train, weight_steps, t_train))
    assert calls == [k for k in rounds for _ in range(t_val)]
    after = model.arch_parameters()
    assert all(not torch.equal(b, a.detach()) for b, a in zip(hyper, after, strict=True))


def test_sigma_moves_within_its_bounds():
    model = _supernet()
    bounds = {"sigma_init": 0.1, "sigma_min": 0.09, "sigma_max": 0.11, "sigma_lr": 0.02}
    strategy = _strategy(model, t_train=1, tau=0.0, **bounds)
    run_search(model, *_loaders(), SETTINGS, strategy=strategy)
    sigma = strategy.sigma()
    assert sigma.shape == (model.n_hyper,)
    assert not torch.allclose(sigma, torch.full_like(sigma, 0.1))
    assert float(sigma.min()) >= 0.09 * (1 - 1e-6) and float(sigma.max()) <= 0.11 * (1 + 1e-6)
    snapshot = strategy.snapshot()
    assert 0.09 * (1 - 1e-6) <= snapshot["sigma_mean"] <= 0.11 * (1 + 1e-6)


def test_a_large_entropy_weight_widens_every_sigma_up_to_the_bound():
    model = _supernet()
    strategy = _strategy(model, t_train=1, tau=100.0, sigma_lr=0.05, sigma_max=0.3)
    calls = _record_hyper_steps(strategy)
    result = run_search(model, *_loaders(), SETTINGS, strategy=strategy)
    sigma = strategy.sigma()
    assert len(calls) == 5
    assert bool((sigma > 0.1 * math.exp(0.1)).all())  # 5 Adam steps of ~0.05 in log sigma
    assert float(sigma.max()) <= 0.3 * (1 + 1e-6)
    # the tuned dropout rates are reported with the architecture weights
    assert set(result.arch_history[0]["dropout"]) == {"cell", "classifier"}
    assert result.arch_history[0]["sigma_mean"] == pytest.approx(float(sigma.mean()))


def test_state_dict_round_trip_resumes_the_same_search():
    model = _supernet()
    strategy = _strategy(model, t_train=2)
    run_search(model, *_loaders(), SETTINGS, strategy=strategy)
    buffer = io.BytesIO()
    torch.save(strategy.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=False)

    twin = _supernet(seed=1)
    twin.load_state_dict(model.state_dict())
    model.train(), twin.train()  # run_search leaves the model in eval mode
    restored = StnStrategy(
        twin, StnSettings(t_train=2), arch_lr=0.05, arch_weight_decay=0.0, seed=9
    )
    restored.load_state_dict(state)
    assert restored.weight_steps == strategy.weight_steps == 6
    assert torch.equal(restored.sigma(), strategy.sigma())
    assert torch.equal(restored.generator.get_state(), strategy.generator.get_state())

    # the next hyper-parameter round is identical: same noise, same Adam moments
    train, val = _loaders()
    batch = next(iter(train))
    for search, net in ((strategy, model), (restored, twin)):
        search.weight_steps = 8  # a round is due
        assert search.arch_step(net, batch, iter(val), lr=0.05)
    for a, b in zip(model.arch_parameters(), twin.arch_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(restored.sigma(), strategy.sigma())


def test_nan_validation_loss_skips_the_hyper_step(monkeypatch):
    model = _supernet()
    strategy = _strategy(model, t_train=2)
    forward = model.forward

    def nan_when_validating(x, hyper=None, dropout=True):
        logits = forward(x, hyper, dropout)
        return logits * float("nan") if not dropout else logits

    monkeypatch.setattr(model, "forward", nan_when_validating)
    hyper, sigma = _hyper(model), strategy.sigma()
    result = run_search(model, *_loaders(train_batches=6), SETTINGS, strategy=strategy)
    for before, after in zip(hyper, model.arch_parameters(), strict=True):
        assert torch.equal(before, after.detach())
    assert torch.equal(sigma, strategy.sigma())
    assert not strategy.hyper_optimizer.state  # Adam never stepped
    assert all(p.grad is None for p in model.arch_parameters())
    assert result.history[0]["skipped_steps"] == 2  # the rounds after weight steps 2 and 4
    assert math.isfinite(result.history[0]["train_loss"])


def test_search_stops_when_every_loss_is_nan(monkeypatch):
    model = _supernet()
    strategy = _strategy(model, t_train=1)
    monkeypatch.setattr(
        model, "forward", lambda x, hyper=None, dropout=True: torch.full((len(x), 7), math.nan)
    )
    hyper = _hyper(model)
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        run_search(model, *_loaders(train_batches=24, batch_size=1), SETTINGS, strategy=strategy)
    for before, after in zip(hyper, model.arch_parameters(), strict=True):
        assert torch.equal(before, after.detach())


def test_dropout_logits_get_no_weight_decay_and_alphas_do():
    model = _supernet()
    strategy = StnStrategy(model, StnSettings(), arch_lr=3e-3, arch_weight_decay=1e-3)
    decay = {
        id(p): group["weight_decay"]
        for group in strategy.hyper_optimizer.param_groups
        for p in group["params"]
    }
    assert decay[id(model.dropout_logits)] == 0.0
    assert decay[id(model.alphas_normal)] == decay[id(model.alphas_reduce)] == 1e-3
    assert set(decay) == {id(p) for p in model.arch_parameters()}

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from expression_nas.nas.search_loop import SearchSettings, run_search


class TinySupernet(nn.Module):
    """Two candidate operations mixed by softmax(alpha): enough to exercise the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(2))
        self.linear = nn.Linear(6, 3)
        self.square = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.alpha, 0)
        return weights[0] * self.linear(x) + weights[1] * self.square(x**2)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def arch_snapshot(self) -> dict:
        return {"alpha": torch.softmax(self.alpha, 0).tolist()}

    def derive(self) -> dict:
        return {"family": "tiny", "op": ["linear", "square"][int(self.alpha.argmax())]}


def _loaders(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(48, 6, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    train = DataLoader(
        TensorDataset(x[:32], y[:32]), batch_size=8, shuffle=True, generator=torch.Generator()
    )
    val = DataLoader(TensorDataset(x[32:], y[32:]), batch_size=8)
    return train, val


@pytest.mark.parametrize("order", ["first", "second"])
def test_search_learns_and_reports(order):
    torch.manual_seed(0)
    model = TinySupernet()
    alpha_before = model.alpha.detach().clone()
    result = run_search(model, *_loaders(), SearchSettings(epochs=3, lr=0.1, order=order))
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert not torch.equal(model.alpha.detach(), alpha_before)
    assert len(result.arch_history) == 3 and result.spec["family"] == "tiny"


def test_interrupted_search_resumes_from_its_checkpoint_and_matches_a_straight_run(tmp_path):
    settings = SearchSettings(epochs=3, lr=0.1)
    torch.manual_seed(0)
    straight = TinySupernet()
    run_search(straight, *_loaders(), settings)

    checkpoint = tmp_path / "search.pt"

    def interrupt(epoch, metrics, snapshot):
        if epoch == 1:
            raise KeyboardInterrupt

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        run_search(TinySupernet(), *_loaders(), settings, checkpoint, "key", on_epoch_end=interrupt)

    torch.manual_seed(123)  # a fresh process: different initial weights, restored from disk
    resumed = TinySupernet()
    seen = []
    result = run_search(
        resumed,
        *_loaders(),
        settings,
        checkpoint,
        "key",
        on_epoch_end=lambda epoch, metrics, snapshot: seen.append(epoch),
    )
    assert result.resumed_from_epoch == 1
    assert seen == [0, 1, 2]  # the restored epoch is reported again, then the rest
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_checkpoint_of_another_search_is_ignored(tmp_path):
    checkpoint = tmp_path / "search.pt"
    run_search(TinySupernet(), *_loaders(), SearchSettings(epochs=1), checkpoint, "first")
    result = run_search(TinySupernet(), *_loaders(), SearchSettings(epochs=1), checkpoint, "second")
    assert result.resumed_from_epoch == 0


def test_checkpoint_written_before_strategies_existed_still_resumes(tmp_path):
    checkpoint = tmp_path / "search.pt"
    settings = SearchSettings(epochs=2, lr=0.1)
    run_search(TinySupernet(), *_loaders(), SearchSettings(epochs=1, lr=0.1), checkpoint, "key")
    state = torch.load(checkpoint, weights_only=False)
    state["arch_optimizer"] = state.pop("strategy")["optimizer"]  # the old layout
    torch.save(state, checkpoint)
    result = run_search(TinySupernet(), *_loaders(), settings, checkpoint, "key")
    assert result.resumed_from_epoch == 1 and len(result.history) == 2

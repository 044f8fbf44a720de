import pytest
import torch
from tiny_supernet import TinySupernet
from torch.utils.data import DataLoader, TensorDataset

from expression_nas.nas.search_loop import SearchSettings, run_search


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

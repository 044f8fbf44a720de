import pytest
import torch


@pytest.fixture(scope="module")
def single_torch_thread():
    """Tiny convolutions run fastest on one thread; several contend on a busy machine.
    Use with ``pytestmark = pytest.mark.usefixtures("single_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

from pathlib import Path

import mlflow
import torch
from mlflow.artifacts import download_artifacts

from expression_nas import tracking


def test_a_logged_network_loads_back_and_pins_the_installed_versions(mlflow_experiment, tmp_path):
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    with mlflow.start_run() as run:
        tracking.log_torch_model(network)
    model_uri = f"runs:/{run.info.run_id}/model"
    loaded = mlflow.pytorch.load_model(model_uri)
    x = torch.rand(2, 4)
    assert torch.equal(loaded(x), network(x))

    requirements = download_artifacts(f"{model_uri}/requirements.txt", dst_path=str(tmp_path))
    pinned = dict(
        line.split("==") for line in Path(requirements).read_text().split() if "==" in line
    )
    assert set(pinned) == set(tracking.MODEL_DISTRIBUTIONS)
    assert pinned["torch"] == torch.__version__.split("+")[0]


def test_nothing_is_logged_without_an_active_run(mlflow_experiment):
    tracking.log_torch_model(torch.nn.Linear(2, 2))
    assert mlflow.search_runs(experiment_ids=[mlflow_experiment]).empty

"""The project's kedro-viz launcher: offline, no "Kedro-Viz None is here!" banner."""

from kedro_viz import __version__
from kedro_viz.api.rest.responses import version as version_response
from kedro_viz.integrations import pypi

from expression_nas import viz


def test_the_launcher_serves_the_project_without_asking_pypi(monkeypatch):
    served = {}
    # registered first so that the launcher's replacements are undone after the test
    monkeypatch.setattr(pypi, "get_latest_version", pypi.get_latest_version)
    monkeypatch.setattr(version_response, "get_latest_version", version_response.get_latest_version)
    monkeypatch.setattr(viz, "run_server", lambda **kwargs: served.update(kwargs))

    viz.main(["--port", "4321", "--pipeline", "rnas_mer"])

    assert served["port"] == 4321 and served["pipeline_name"] == "rnas_mer"
    assert served["package_name"] == "expression_nas"
    response = version_response.get_version_response()
    assert response.latest == response.installed == str(__version__)
    assert response.is_outdated is False

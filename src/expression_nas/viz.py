"""``python -m expression_nas.viz [--host H] [--port P] [--pipeline NAME] [--env ENV]``:
kedro-viz for this project, offline.

kedro-viz 12.5 asks PyPI for its latest version at start and on every page load. Offline the
request fails, the version becomes the string "None", and the page shows a banner
"Kedro-Viz None is here!" (it compares "12.5.0" < "None" as text). This serves the same app in
this process, with the installed version standing for the latest: nothing is fetched and no
banner appears. Open the printed address with ``?expandAllPipelines=true`` to see every
namespace (e.g. the main job's ``demo_composite``) expanded to its nodes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kedro_viz import __version__
from kedro_viz.api.rest.responses import version as version_response
from kedro_viz.integrations import pypi
from kedro_viz.server import run_server
from packaging.version import Version, parse

logger = logging.getLogger(__name__)


def installed_version() -> Version:
    return parse(__version__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m expression_nas.viz", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4141)
    parser.add_argument("--pipeline", default=None, help="registered pipeline (default: all)")
    parser.add_argument("--env", default=None, help="Kedro configuration environment")
    args = parser.parse_args(argv)
    pypi.get_latest_version = installed_version
    version_response.get_latest_version = installed_version
    logging.basicConfig(level=logging.INFO)
    logger.info("kedro-viz at http://%s:%d/?expandAllPipelines=true", args.host, args.port)
    run_server(
        host=args.host,
        port=args.port,
        pipeline_name=args.pipeline,
        env=args.env,
        project_path=str(Path.cwd()),
        package_name="expression_nas",
    )


if __name__ == "__main__":
    main()

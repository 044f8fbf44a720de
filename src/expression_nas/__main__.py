"""expression-nas file for ensuring the package is executable as `expression-nas` and
`python -m expression_nas`: ``kedro run`` with the given arguments (a leading ``run`` may be
written or left out).

It is also the entry point of data-parallel runs: ``torchrun --nproc_per_node=N -m
expression_nas run --pipelines=...`` starts N copies of the Kedro run, one per rank
(``distributed``; rank 0 alone writes datasets, checkpoints and MLflow runs)."""

import sys
from pathlib import Path

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project


def main(*args, **kwargs):
    package_name = Path(__file__).parent.name
    configure_project(package_name)
    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive
    if not args and "args" not in kwargs and sys.argv[1:2] == ["run"]:
        kwargs["args"] = sys.argv[2:]  # `kedro run`'s spelling
    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()

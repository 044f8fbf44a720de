"""A PostgreSQL server for the shared-storage tests: the one named by
``EXPRESSION_NAS_POSTGRES_URL`` (``.ci/run`` installs Debian's ``postgresql``, starts it and
sets the variable), else a throwaway server started from the installed binaries. Outside CI
the tests skip, saying why, when neither exists; in CI they fail instead of skipping."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

URL_VARIABLE = "EXPRESSION_NAS_POSTGRES_URL"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must run the PostgreSQL tests (.ci/run sets {URL_VARIABLE})")
    pytest.skip(f"{reason}: set {URL_VARIABLE}=postgresql://... or apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        import psycopg  # noqa: F401, PLC0415 (only these tests need the driver)
    except ImportError:
        _unavailable("psycopg (the PostgreSQL driver) is not installed")
    if os.environ.get(URL_VARIABLE):
        yield os.environ[URL_VARIABLE]
        return
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    initdb = shutil.which("initdb") or (binaries and f"{binaries[-1]}/initdb")
    if not initdb or not Path(initdb).exists():
        _unavailable("no PostgreSQL server binaries (initdb) found")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    as_owner: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="expression_nas_pg_"))
    if os.geteuid() == 0:  # the server refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = folder / "data"
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = str(folder / "log")
    try:
        subprocess.run(
            [*as_owner, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*as_owner, pg_ctl, "-D", str(data), "-o", options, "-l", log, "-w", "start"],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"a throwaway PostgreSQL server did not start ({error})")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_owner, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)

"""Test-session rules shared by every test module.

In CI (``CI`` set, as ``.ci/run`` runs), a test marked ``integration`` may not skip: a
missing Label Studio, FiftyOne database or Chromium there is a broken CI setup, not a
reason to pass quietly. Locally, such tests skip with the reason.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fo_server import fiftyone_env
from pg_server import pg_bindir, postgres_cluster


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and item.get_closest_marker("integration") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"integration test skipped in CI: {reason}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """One throwaway PostgreSQL cluster (Debian's binaries, initdb in a temp dir) for the whole
    session, shared by the store and ledger CLI tests; stopped at the end."""
    if pg_bindir() is None:
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def fo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """FiftyOne on a private mongod with its own HOME, database and plugins dir (accord's plugin
    installed), for the whole session: ``SimpleNamespace(fo, foo, plugin, root, port)``."""
    with fiftyone_env(tmp_path_factory.mktemp("fiftyone")) as env:
        yield env


@pytest.fixture
def new_dataset(fo_env: SimpleNamespace) -> Iterator[Any]:
    """``make(samples)``: a new FiftyOne dataset of these samples, deleted after the test."""
    made: list[Any] = []

    def make(samples: list[Any]) -> Any:
        ds = fo_env.fo.Dataset()
        ds.add_samples(samples, progress=False)
        made.append(ds)
        return ds

    yield make
    for ds in made:
        if not ds.deleted:
            ds.delete()

"""Test-session rules shared by every test module.

In CI (``CI`` set, as ``.ci/run`` runs), a test marked ``integration`` may not skip: a
missing Label Studio, FiftyOne database or Chromium there is a broken CI setup, not a
reason to pass quietly. Locally, such tests skip with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and item.get_closest_marker("integration") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"integration test skipped in CI: {reason}"

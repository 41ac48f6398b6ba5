"""Real-browser tests: Debian's Chromium driven headless by Playwright (.ci/run installs it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import services

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]  # fmt: skip


def need_browser() -> Any:
    """Playwright's sync API, or a skip (a failure with CLEANGATE_REQUIRE_SERVICES=1) naming
    what is missing."""
    reason = ""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)"
    else:
        try:
            from playwright import sync_api
        except ImportError:
            reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if reason:
        if services.REQUIRE:
            pytest.fail(reason + " (CLEANGATE_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    return sync_api

"""Fixtures shared by the whole suite: where ../shared is, and a private trace cache."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository; tests that need it skip when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED} not found: the real workloads and golden values live there")
    return SHARED


@pytest.fixture(scope="session", autouse=True)
def _private_trace_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Keep the packed-trace cache out of the user's home while testing.
    import os

    os.environ["ADRS_CACHE_DIR"] = str(tmp_path_factory.mktemp("adrs-cache"))


@pytest.fixture(scope="session")
def jail():
    """One jail runner for the session: candidates that misbehave are run in it, never in
    the test process (an in-process runner is for trusted code only)."""
    from adrs.jail import JailRunner

    runner = JailRunner()
    yield runner
    runner.close()

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


@pytest.fixture(scope="session")
def ray_cluster():
    """One real Ray cluster on 127.0.0.1 for the session (one node with two labels,
    see tests/ray_cluster.py), started by the first test that asks for it. Its drivers
    (this process, the ``adrs run`` processes of the tests) get the same environment."""
    import os

    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed: pip install -e '.[ray]' (CI installs it)")
    from tests.ray_cluster import CLUSTER_ENV, LoopbackCluster

    saved = {name: os.environ.get(name) for name in CLUSTER_ENV}
    os.environ.update(CLUSTER_ENV)
    cluster = LoopbackCluster()
    try:
        yield cluster
    finally:
        cluster.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

"""Fixtures of the kernel tests; they need torch (the moe extra) and skip without it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="adrs.kernels needs the moe extra: pip install -e .[moe]")


@pytest.fixture(scope="session")
def golden(shared_dir: Path):
    from .golden import golden_cases

    return golden_cases(shared_dir)

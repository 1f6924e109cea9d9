"""Fixtures for the contract tests: the shared reference folder, skipped with a reason only when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_support import SHARED_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"the shared reference folder {SHARED_DIR.resolve()} is absent (it sits beside the repo in CI)")
    return SHARED_DIR

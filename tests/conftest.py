"""Shared fixtures: example projects copied into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from project_runner import ProjectRunner, copy_example


@pytest.fixture
def dstore_examples(tmp_path: Path) -> ProjectRunner:
    return copy_example("dstore-examples", tmp_path)

"""One real governed workload per session, shared by the operate tests (it takes ~1 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.operate.governed import Recorded, run_workload


@pytest.fixture(scope="session")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return run_workload(Path(tmp_path_factory.mktemp("operate-workload")), rounds=2)

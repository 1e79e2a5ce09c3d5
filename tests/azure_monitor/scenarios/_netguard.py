"""Loopback-only networking for scenario subprocesses (pytest's guard does not reach them).

Imported first by every scenario; ``BLOCKED`` lists what was refused, so the test can assert
the clients stayed hermetic. The guard itself is ``tests/fixtures/netguard.py``.
"""

from __future__ import annotations

from tests.fixtures.netguard import BLOCKED, install

__all__ = ["BLOCKED"]

install()

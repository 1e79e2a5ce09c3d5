"""Every Azure-shaped backend chosen by settings alone, each against its real local peer."""

from __future__ import annotations

from tests.fixtures.azurite import azurite, azurite_on_disk  # noqa: F401  (pytest fixtures)
from tests.fixtures.redis_server import redis_server  # noqa: F401

"""Fixtures for the safety tests: the Content Safety REST stub on a free 127.0.0.1 port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.content_safety_stub import ContentSafetyStub

STUB_KEY = "stub-secret-key-0123456789abcdef"


@pytest.fixture
def cs_stub() -> Iterator[ContentSafetyStub]:
    stub = ContentSafetyStub(key=STUB_KEY).start()
    try:
        yield stub
    finally:
        stub.stop()

"""Keyless (Entra ID / TokenCredential) peers over TLS on 127.0.0.1, and a scenario runner.

The clients run in subprocesses: aiohttp (blob, Content Safety) fixes its trusted CAs when it
is imported and the App Insights distro installs global providers, so the test CA is handed
over through ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE`` in a fresh interpreter.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.azure_monitor.conftest import run_script, scenario_env
from tests.fixtures.appinsights_capture import CaptureServer
from tests.fixtures.azurite import Azurite
from tests.fixtures.content_safety_stub import ContentSafetyStub
from tests.fixtures.tls import TlsFiles, make_tls_files

HERE = Path(__file__).resolve().parent
NETGUARD_DIR = HERE.parent / "azure_monitor" / "scenarios"
SCENARIOS = {
    "blob_sink": HERE / "scenarios" / "blob_sink.py",
    "content_safety": HERE / "scenarios" / "content_safety.py",
    "governed_run": HERE.parent / "azure_monitor" / "scenarios" / "governed_run.py",
}
CS_TOKEN = "cs-entra-token"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def azurite_oauth(tls_files: TlsFiles) -> Iterator[Azurite]:
    """Azurite over HTTPS with ``--oauth basic``: bearer tokens are checked (iss, aud, lifetime)."""
    az = Azurite(tls=tls_files, oauth=True).start()
    try:
        yield az
    finally:
        az.stop()


@pytest.fixture
def content_safety_tls(tls_files: TlsFiles) -> Iterator[ContentSafetyStub]:
    stub = ContentSafetyStub(bearer_token=CS_TOKEN, tls=tls_files).start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def appinsights_tls(tls_files: TlsFiles) -> Iterator[CaptureServer]:
    server = CaptureServer(tls=tls_files).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def run_keyless(tmp_path: Path, tls_files: TlsFiles) -> Callable[..., dict[str, Any]]:
    """Run a scenario in a fresh interpreter that trusts the test CA; return its JSON line."""

    def run(name: str, *args: str, timeout: float = 60.0, **env_extra: str) -> dict[str, Any]:
        env = scenario_env(tmp_path, **tls_files.client_env(), **env_extra)
        # the scenario's own folder is on sys.path; add azure_monitor's for ``_netguard``
        env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(NETGUARD_DIR)])
        return run_script(SCENARIOS[name], *args, env=env, cwd=tmp_path, timeout=timeout)

    return run

"""Test-wide guards: no network beyond loopback, no Azure settings leaking in from the host."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator

import pytest

_AZURE_ENV = (
    "APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_EXPORTER_OTLP_ENDPOINT", "CONTENT_SAFETY_ENDPOINT",
    "CONTENT_SAFETY_KEY", "AUDIT_STORAGE_CONNECTION_STRING", "AUDIT_STORAGE_ACCOUNT_URL", "REDIS_URL",
    "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMOPS_TELEMETRY", "ENABLE_SENSITIVE_DATA",
)
_HERMETIC_ENV = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
}

# Unless the developer opts in to real-Azure tests, the host's Azure settings are not ours to use.
if not os.environ.get("LLMOPS_TEST_REAL_AZURE"):
    for _name in _AZURE_ENV:
        os.environ.pop(_name, None)
for _name, _value in _HERMETIC_ENV.items():
    os.environ.setdefault(_name, _value)

_blocked: list[tuple[str, object]] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(sock: socket.socket, address: object) -> object:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        _blocked.append(("connect", address))
        raise ConnectionRefusedError(f"tests may only reach loopback; blocked {address!r}")
    return _real_connect(sock, address)


def _guarded_connect_ex(sock: socket.socket, address: object) -> int:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        _blocked.append(("connect", address))
        return 111
    return _real_connect_ex(sock, address)


def _guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if host is not None and not _is_loopback(host):
        _blocked.append(("dns", host))
        raise socket.gaierror(socket.EAI_NONAME, f"tests may only reach loopback; blocked lookup of {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture
def blocked_network_attempts() -> Iterator[list[tuple[str, object]]]:
    """The non-loopback attempts made while a test ran (tests assert it stays empty)."""
    start = len(_blocked)
    attempts: list[tuple[str, object]] = []
    yield attempts
    attempts.extend(_blocked[start:])


@pytest.fixture
def data_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A private LLMOPS_DATA_DIR, and a cwd without a .env file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMOPS_DATA_DIR", str(tmp_path / ".llmops"))
    return tmp_path / ".llmops"

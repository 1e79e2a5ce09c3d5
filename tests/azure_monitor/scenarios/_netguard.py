"""Loopback-only networking for scenario subprocesses (pytest's guard does not reach them).

Non-loopback connects and DNS lookups are refused and recorded; the scenario reports them
so a test can assert the distro stayed hermetic (no statsbeat, IMDS or OneSettings calls).
"""

from __future__ import annotations

import ipaddress
import socket

BLOCKED: list[str] = []
_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo


def _loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(sock: socket.socket, address: object) -> None:
    if isinstance(address, tuple) and not _loopback(address[0]):
        BLOCKED.append(f"connect {address[0]}:{address[1]}")
        raise ConnectionRefusedError(f"scenario may only reach loopback; blocked {address!r}")
    _connect(sock, address)


def _guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if host is not None and not _loopback(host):
        BLOCKED.append(f"dns {host}")
        raise socket.gaierror(socket.EAI_NONAME, f"scenario may only reach loopback; blocked {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo

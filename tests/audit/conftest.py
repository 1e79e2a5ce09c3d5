"""Audit test peers: real Azurite (tests.fixtures.azurite) and a TCP fault proxy in front of it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from tests.fixtures.azurite import azurite, azurite_on_disk  # noqa: F401  (pytest fixtures)


class FaultProxy:
    """A byte-level TCP proxy to Azurite that can play dead or swallow append confirmations.

    ``drop_append_responses = n``: the next n responses to ``comp=appendblock`` requests are
    not delivered (the connection is cut *after* Azurite processed the append) — the
    "append succeeded but the confirmation was lost" fault. ``set_down(True)`` refuses and
    cuts every connection, like a storage outage.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.down = False
        self.drop_append_responses = 0
        self.down_after_drop = False
        self.dropped = 0
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def set_down(self, down: bool) -> None:
        with self._lock:
            self.down = down
            if down:
                for s in self._socks:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
                self._socks.clear()

    def close(self) -> None:
        self.set_down(True)
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            state = {"append": False}
            threading.Thread(target=self._pump, args=(client, upstream, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict[str, bool], to_server: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if to_server:
                    if b"comp=appendblock" in data[:2048]:
                        state["append"] = True
                elif state["append"]:
                    state["append"] = False
                    with self._lock:
                        drop = self.drop_append_responses > 0
                        if drop:
                            self.drop_append_responses -= 1
                            self.dropped += 1
                    if drop:
                        if self.down_after_drop:
                            self.set_down(True)
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def proxy_connection_string(port: int) -> str:
    from tests.fixtures.azurite import connection_string

    return connection_string(port)


@pytest.fixture
def fault_proxy(azurite) -> Iterator[FaultProxy]:  # noqa: F811
    proxy = FaultProxy(azurite.port)
    try:
        yield proxy
    finally:
        proxy.close()

"""A private event loop on a daemon thread, for running the async policy from sync LangChain code.

Why not ``asyncio.run`` per call: it fails inside a running loop (Jupyter, sync code called
from an async app), and it builds a new loop per call, so a backend bound to its first loop
(Redis, aiohttp) breaks on the second. One long-lived loop serves every sync call instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any


class LoopThread:
    """Runs coroutines to completion on one private loop; started on first use, thread-safe."""

    def __init__(self, name: str = "llmops-guard-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Block the calling thread until ``coro`` finishes on the private loop; re-raise its error."""
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._loop is None:
                    loop = asyncio.new_event_loop()
                    self._thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                    self._thread.start()
                    self._loop = loop
                loop = self._loop
        if self._thread is threading.current_thread():  # a hook re-entered from our own loop
            coro.close()
            raise RuntimeError("LoopThread.run called from its own loop thread")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def close(self) -> None:
        """Stop and close the loop (idempotent); a later ``run`` starts a fresh one."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if not loop.is_running():
            loop.close()

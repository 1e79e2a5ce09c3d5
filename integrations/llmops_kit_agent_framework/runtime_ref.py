"""A runtime that is built on first use, so ``llmops_middleware()`` costs nothing at import time.

``Settings.load()`` reads ``.env``; doing that when an ``Agent`` is constructed would make
module import order matter and break apps that load ``.env`` themselves a moment later.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops_kit.config import Settings
    from llmops_kit.lifecycle import RunGovernor
    from llmops_kit.runtime import Runtime


class RuntimeRef:
    """Holds a :class:`Runtime` (given, or built from ``Settings.load()`` once) and its governor."""

    def __init__(self, runtime: Runtime | None = None, *, settings: Settings | None = None,
                 **build_kwargs: Any) -> None:
        self._runtime = runtime
        self._settings = settings
        self._build_kwargs = build_kwargs
        self._governor: RunGovernor | None = None
        self._lock = threading.Lock()

    def get(self) -> Runtime:
        runtime = self._runtime
        if runtime is None:
            with self._lock:
                if self._runtime is None:
                    from llmops_kit.config import Settings
                    from llmops_kit.runtime import build_runtime

                    self._runtime = build_runtime(self._settings or Settings.load(), **self._build_kwargs)
                runtime = self._runtime
        return runtime

    def governor(self) -> RunGovernor:
        governor = self._governor
        if governor is None:
            from llmops_kit.lifecycle import RunGovernor

            governor = self._governor = RunGovernor(self.get())
        return governor

    @property
    def built(self) -> bool:
        return self._runtime is not None

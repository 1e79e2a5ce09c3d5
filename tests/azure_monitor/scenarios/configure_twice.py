"""configure_telemetry twice in one process: the second must fail loudly, not be ignored."""

from __future__ import annotations

import json

import _netguard  # first, so nothing below can reach beyond loopback

from llmops_kit.config import Settings
from llmops_kit.telemetry.setup import configure_telemetry

if __name__ == "__main__":
    settings = Settings.load(None)
    first = configure_telemetry(settings)
    try:
        configure_telemetry(settings)
        error = ""
    except RuntimeError as exc:
        error = str(exc)
    first.shutdown()
    print(json.dumps({"first": first.mode, "second_error": error, "blocked_network": _netguard.BLOCKED}))

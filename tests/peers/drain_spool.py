"""A fresh process over the same audit spool: it must drain what the previous process left behind.

Run by ``test_peers_audit_faults`` with the settings in its environment; prints the spool depth
after the drain as one JSON line.
"""

from __future__ import annotations

import asyncio
import json

from llmops_kit.config import Settings
from llmops_kit.runtime import _build_audit


async def main() -> dict[str, int]:
    settings = Settings.load(None)
    sink = _build_audit(settings, {})
    before = int(getattr(sink, "spool_depth", -1))
    await sink.flush()
    after = int(getattr(sink, "spool_depth", -1))
    await sink.aclose()
    return {"before": before, "after": after}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))

"""A finished run leaves nothing of ours for the cyclic garbage collector.

MAF's response streams and middleware pipelines sit in reference cycles, freed only when a
collection finds them; a full collection of a large heap costs tens of milliseconds. Whatever
of ours hangs off those cycles - or forms cycles of its own (a run state holding a closure
over itself, a call whose reservation's estimate points back at the call) - is promoted
through the GC generations with them. So after a run completes, no object of ours may be
cyclic garbage: everything must be freed by reference counting alone.
"""

from __future__ import annotations

import asyncio
import gc
import types
from typing import Any

import pytest
from tests.maf.test_maf_agent_runs import run_agent, weather_agent

from llmops_kit.results import RunResult
from llmops_kit_agent_framework.agent_middleware import _StreamHooks
from llmops_kit_agent_framework.chat_middleware import _CallStreamHooks

_OURS = ("llmops_kit", "llmops_kit_agent_framework")


def _module_of(obj: object) -> str:
    if isinstance(obj, types.FunctionType | types.MethodType):
        return str(getattr(obj, "__module__", "") or "")
    return type(obj).__module__


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_finished_runs_leave_no_cyclic_garbage_of_ours(make_runtime: Any, spans: Any, stream: bool) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    agent, _ = weather_agent(runtime, results)
    await run_agent(agent, "What's the weather in Oslo?", stream)  # first-call caches are not garbage
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            await run_agent(agent, "What's the weather in Oslo?", stream)
        await asyncio.sleep(0)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = list(gc.garbage)
        gc.garbage.clear()
    finally:
        gc.set_debug(0)
        gc.enable()
    ours = [o for o in garbage if _module_of(o).startswith(_OURS)]
    # the stream hook holders are MAF's stream's own members (its hooks are their bound methods),
    # so they go with its cycle - emptied by the cleanup hook, holding no run, call or span
    holders = [o.__self__ if isinstance(o, types.MethodType) else o for o in ours]
    assert {type(h) for h in holders} <= {_StreamHooks, _CallStreamHooks}
    assert all(getattr(h, slot) is None for h in holders for slot in ("state", "call") if hasattr(h, slot))
    assert [r.status for r in results] == ["ok"] * 4

"""MAF's middleware pipeline runs are freed by reference counting once our middleware is done.

agent-framework-core 1.23 leaves every pipeline ``execute()`` in a reference cycle (its
``create_next_handler`` closure holds its own cell), which keeps the run's ``AgentContext`` and
each model call's ``ChatContext`` alive until the cyclic GC runs (``pipeline_cycle``). These
tests hold weak references to those contexts from probe middleware placed after ours and check
that, with the collector off, they are gone as soon as the run is - and that they are not when
the release is switched off, which is what fails first if MAF ever fixes the cycle itself.
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from agent_framework import Agent, AgentContext, AgentMiddleware, ChatContext, ChatMiddleware
from tests.maf.test_maf_agent_runs import INSTRUCTIONS, run_agent

from llmops_kit.results import RunResult
from llmops_kit_agent_framework import llmops_middleware, pipeline_cycle
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather


class _AgentProbe(AgentMiddleware):
    def __init__(self) -> None:
        self.seen: list[weakref.ref[AgentContext]] = []

    async def process(self, context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
        self.seen.append(weakref.ref(context))
        await call_next()


class _ChatProbe(ChatMiddleware):
    """Records each call's context; ``attempts`` > 1 calls the model again, as a retrying middleware would."""

    def __init__(self, attempts: int = 1) -> None:
        self.seen: list[weakref.ref[ChatContext]] = []
        self.attempts = attempts

    async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        self.seen.append(weakref.ref(context))
        for _ in range(self.attempts):
            await call_next()


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _agent(runtime: Any, results: list[RunResult], *probes: Any) -> Agent:
    return Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                 middleware=[*llmops_middleware(runtime, on_result=results.append), *probes])


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_contexts_are_freed_when_the_run_is(make_runtime: Any, collector_off: None, stream: bool) -> None:
    results: list[RunResult] = []
    agent_probe, chat_probe = _AgentProbe(), _ChatProbe()
    agent = _agent(make_runtime(), results, agent_probe, chat_probe)
    response = await run_agent(agent, "What's the weather in Oslo?", stream)
    assert response.text and [r.status for r in results] == ["ok"]
    del response
    assert len(agent_probe.seen) == 1 and len(chat_probe.seen) == 2
    assert [ref() for ref in (*agent_probe.seen, *chat_probe.seen)] == [None, None, None]


async def test_without_the_release_maf_keeps_the_contexts_for_the_collector(
        make_runtime: Any, collector_off: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """If this fails, MAF no longer leaves the cycle: ``pipeline_cycle`` can go."""
    monkeypatch.setattr(pipeline_cycle, "_ENABLED", False)
    results: list[RunResult] = []
    agent_probe, chat_probe = _AgentProbe(), _ChatProbe()
    await run_agent(_agent(make_runtime(), results, agent_probe, chat_probe), "What's the weather in Oslo?", False)
    assert all(ref() is not None for ref in (*agent_probe.seen, *chat_probe.seen))
    gc.collect()
    assert all(ref() is None for ref in (*agent_probe.seen, *chat_probe.seen))


async def test_a_middleware_before_ours_may_call_on_twice(make_runtime: Any) -> None:
    """Ours is not first in the chat pipeline: the cell stays, so the retry can build its handlers again."""
    results: list[RunResult] = []
    retry = _ChatProbe(attempts=2)
    client = ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=[retry, *llmops_middleware(make_runtime(), on_result=results.append)])
    response = await agent.run("What's the weather in Oslo?")
    assert "Oslo" in response.text and [r.status for r in results] == ["ok"]
    assert len(client.calls) == 4  # two attempts for each of the loop's two model calls


async def test_a_middleware_after_ours_may_call_on_twice(make_runtime: Any) -> None:
    results: list[RunResult] = []
    client = ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=[*llmops_middleware(make_runtime(), on_result=results.append), _ChatProbe(attempts=2)])
    response = await agent.run("What's the weather in Oslo?")
    assert "Oslo" in response.text and [r.status for r in results] == ["ok"] and len(client.calls) == 4


class AgentMiddlewarePipeline:
    """A lookalike of MAF's pipeline, in another module: same names, same cycle."""

    def execute(self) -> tuple[bool, Any]:
        def create_next_handler(index: int) -> Any:
            def current_handler() -> bool:
                _ = create_next_handler, index
                return pipeline_cycle.release_pipeline_cycle(sys._getframe())

            return current_handler

        return create_next_handler(0)(), create_next_handler


def test_a_frame_that_is_not_mafs_handler_is_left_alone() -> None:
    released, factory = AgentMiddlewarePipeline().execute()
    assert released is False
    assert factory.__closure__[0].cell_contents is factory  # the lookalike's cycle is untouched
    assert pipeline_cycle.release_pipeline_cycle(None) is False

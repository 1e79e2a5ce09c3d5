"""Exact span trees and attributes of LLMOpsCallbackHandler on real LangChain runs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnableParallel
from langchain_core.tools import tool
from opentelemetry.trace import SpanKind, StatusCode
from tests.langchain.conftest import Otel, tree

from llmops_kit.pricing.table import PriceTable
from llmops_kit.telemetry import semconv as sc
from llmops_kit.usage import TokenUsage
from llmops_kit_langchain import LLMOpsCallbackHandler
from llmops_kit_langchain.testing import ScriptedChatModel, ScriptedLLM, tool_call


class DocsRetriever(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: Any = None) -> list[Document]:
        return [
            Document(page_content="Paris is the capital of France.", metadata={"id": "d1"}),
            Document(page_content="The Seine flows through Paris.", metadata={"id": "d2"}),
        ]


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def explode(x: int) -> int:
    """Always fails."""
    raise ValueError("tool exploded")


def build_chain(model: ScriptedChatModel) -> Any:
    retriever = DocsRetriever()
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer using: {context}"), ("human", "{question}")]
    )
    parser = StrOutputParser()

    def retrieve(x: dict[str, Any]) -> dict[str, Any]:
        docs = retriever.invoke(x["question"])
        return {**x, "context": " ".join(d.page_content for d in docs)}

    def finish(msg: AIMessage) -> dict[str, Any]:
        text = parser.invoke(msg)
        return {"text": text, "tool": multiply.invoke(msg.tool_calls[0]).content}

    return RunnableLambda(retrieve) | prompt | model | RunnableLambda(finish)


def tool_reply() -> AIMessage:
    return AIMessage(
        content="Six times seven is", tool_calls=[tool_call("multiply", {"a": 6, "b": 7}, "call_1")]
    )


def handler(otel: Otel, **kw: Any) -> LLMOpsCallbackHandler:
    return LLMOpsCallbackHandler(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, **kw
    )


def by_name(otel: Otel, prefix: str) -> Any:
    found = [s for s in otel.spans() if s.name.startswith(prefix)]
    assert len(found) == 1, [s.name for s in otel.spans()]
    return found[0]


def test_retriever_prompt_chat_parser_tool_tree(otel: Otel) -> None:
    model = ScriptedChatModel(
        script=[tool_reply()],
        usage={
            "input_tokens": 120,
            "output_tokens": 30,
            "total_tokens": 150,
            "input_token_details": {"cache_read": 100},
            "output_token_details": {"reasoning": 10},
        },
    )
    h = handler(otel)
    out = build_chain(model).invoke({"question": "What is 6 times 7?"}, config={"callbacks": [h]})
    assert out == {"text": "Six times seven is", "tool": "42"}
    assert tree(otel.spans()) == [
        "invoke_workflow RunnableSequence",
        "  retrieval DocsRetriever",
        "  chat gpt-4o-mini",
        "  execute_tool multiply",
    ]
    assert len({s.context.trace_id for s in otel.spans()}) == 1
    chat = by_name(otel, "chat")
    a = chat.attributes
    assert chat.kind == SpanKind.CLIENT
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_SYSTEM] == a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_REQUEST_MODEL] == a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (120, 30)
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 10
    expected_micro = PriceTable.load().cost_micro_usd(
        "gpt-4o-mini", TokenUsage(120, 30, 150, cache_read_input_tokens=100, reasoning_tokens=10)
    )
    assert expected_micro > 0
    assert a[sc.LLMOPS_COST_USD] == pytest.approx(expected_micro / 1e6)
    root = by_name(otel, "invoke_workflow")
    r = root.attributes
    assert r[sc.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert (r[sc.GEN_AI_USAGE_INPUT_TOKENS], r[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (120, 30)
    assert r[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert r[sc.LLMOPS_COST_USD] == pytest.approx(expected_micro / 1e6)
    tool_span = by_name(otel, "execute_tool")
    assert tool_span.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert tool_span.attributes[sc.GEN_AI_TOOL_NAME] == "multiply"
    retr = by_name(otel, "retrieval")
    assert retr.attributes[sc.GEN_AI_DATA_SOURCE_ID] == "DocsRetriever"
    assert retr.attributes[sc.LLMOPS_RETRIEVAL_DOCUMENT_COUNT] == 2
    assert h.open_runs == 0
    m = otel.metrics()
    tokens = {dp.attributes[sc.GEN_AI_TOKEN_TYPE]: dp.sum for dp in m[sc.METRIC_TOKEN_USAGE]}
    assert tokens == {"input": 120, "output": 30}
    assert m[sc.METRIC_OPERATION_DURATION][0].count == 1
    assert m[sc.METRIC_COST][0].value == pytest.approx(expected_micro / 1e6)


def test_streamed_chain_ttft_and_usage(otel: Otel) -> None:
    model = ScriptedChatModel(script=["The answer is forty two."])
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model | StrOutputParser()
    h = handler(otel)
    text = "".join(chain.stream({"q": "what is the answer"}, config={"callbacks": [h]}))
    assert text == "The answer is forty two."
    assert tree(otel.spans()) == ["invoke_workflow RunnableSequence", "  chat gpt-4o-mini"]
    a = by_name(otel, "chat").attributes
    assert a[sc.GEN_AI_RESPONSE_TTFC] > 0
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (4, 5)
    assert sc.LLMOPS_USAGE_MISSING not in a
    assert otel.metrics()[sc.METRIC_TTFC][0].count == 1


def test_stream_without_usage_is_flagged_never_guessed(otel: Otel) -> None:
    model = ScriptedChatModel(script=["no usage here"], stream_usage=False)
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model
    "".join(str(c.content) for c in chain.stream({"q": "hi"}, config={"callbacks": [handler(otel)]}))
    chat = by_name(otel, "chat").attributes
    root = by_name(otel, "invoke_workflow").attributes
    assert chat[sc.LLMOPS_USAGE_MISSING] is True and root[sc.LLMOPS_USAGE_MISSING] is True
    for attrs in (chat, root):
        assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs or attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 0
        assert sc.LLMOPS_COST_USD not in attrs or attrs[sc.LLMOPS_COST_USD] == 0
    assert sc.LLMOPS_COST_USD not in chat


def test_failing_tool_marks_error_and_leaves_nothing_open(otel: Otel) -> None:
    h = handler(otel)
    with pytest.raises(ValueError, match="tool exploded"):
        (RunnableLambda(lambda x: x) | explode).invoke({"x": 1}, config={"callbacks": [h]})
    assert tree(otel.spans()) == ["invoke_workflow RunnableSequence", "  execute_tool explode"]
    for span in otel.spans():
        assert span.status.status_code == StatusCode.ERROR
        assert span.attributes[sc.ERROR_TYPE] == "ValueError"
        assert [e.name for e in span.events] == ["exception"]
    assert h.open_runs == 0


def test_root_nests_under_callers_current_span(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel()
    with tracer.start_as_current_span("GET /ask") as http:
        chain.invoke({"q": "hi"}, config={"callbacks": [handler(otel)]})
    assert tree(otel.spans()) == ["GET /ask", "  invoke_workflow RunnableSequence", "    chat gpt-4o-mini"]
    root = by_name(otel, "invoke_workflow")
    assert root.parent.span_id == http.get_span_context().span_id


def test_batch_and_with_config_and_parallel_threads(otel: Otel) -> None:
    h = handler(otel)
    model = ScriptedChatModel(script=["a", "b"])
    chain = (ChatPromptTemplate.from_messages([("human", "{q}")]) | model).with_config(callbacks=[h])
    chain.batch([{"q": "one"}, {"q": "two"}, {"q": "three"}])
    spans = otel.spans()
    assert len({s.context.trace_id for s in spans}) == 3
    assert sorted(tree(spans)) == sorted(["invoke_workflow RunnableSequence", "  chat gpt-4o-mini"] * 3)
    otel.exporter.clear()
    par = RunnableParallel(
        x=ScriptedChatModel(script=["x"]), y=ScriptedChatModel(script=["y"]), z=DocsRetriever()
    )
    par.invoke("question", config={"callbacks": [h]})
    assert sorted(tree(otel.spans())[1:]) == sorted(
        ["  chat gpt-4o-mini", "  chat gpt-4o-mini", "  retrieval DocsRetriever"]
    )
    assert tree(otel.spans())[0] == "invoke_workflow RunnableParallel<x,y,z>"
    assert h.open_runs == 0


async def test_fifty_concurrent_ainvokes_make_fifty_correct_traces(otel: Otel) -> None:
    h = handler(otel)
    model = ScriptedChatModel(script=[tool_reply()])
    chain = build_chain(model)
    outs = await asyncio.gather(
        *[chain.ainvoke({"question": f"q{i}"}, config={"callbacks": [h]}) for i in range(50)]
    )
    assert all(o["tool"] == "42" for o in outs)
    spans = otel.spans()
    assert len(spans) == 200
    traces: dict[int, list[Any]] = {}
    for s in spans:
        traces.setdefault(s.context.trace_id, []).append(s)
    assert len(traces) == 50
    for members in traces.values():
        assert tree(members) == [
            "invoke_workflow RunnableSequence",
            "  retrieval DocsRetriever",
            "  chat gpt-4o-mini",
            "  execute_tool multiply",
        ]
    ids = {s.context.span_id for s in spans}
    assert all(s.parent is None or s.parent.span_id in ids for s in spans)
    assert h.open_runs == 0


async def test_create_task_inside_a_lambda_keeps_parenting(otel: Otel) -> None:
    model = ScriptedChatModel(script=["inner"])

    async def node(x: str) -> str:
        task = asyncio.create_task(model.ainvoke(x))  # config propagates through the context copy
        return (await task).text

    await (RunnableLambda(node) | StrOutputParser()).ainvoke("hi", config={"callbacks": [handler(otel)]})
    assert tree(otel.spans()) == ["invoke_workflow RunnableSequence", "  chat gpt-4o-mini"]


@pytest.mark.parametrize("mode", ["off", "on", "redacted"])
def test_content_capture_modes(otel: Otel, mode: str) -> None:
    kw: dict[str, Any] = {"capture_content": mode != "off"}
    if mode == "redacted":
        kw["redact"] = lambda s: s.replace("Paris", "[CITY]")
    build_chain(ScriptedChatModel(script=[tool_reply()])).invoke(
        {"question": "Is Paris nice?"}, config={"callbacks": [handler(otel, **kw)]}
    )
    chat = by_name(otel, "chat").attributes
    inputs = json.loads(chat[sc.GEN_AI_INPUT_MESSAGES])
    outputs = json.loads(chat[sc.GEN_AI_OUTPUT_MESSAGES])
    assert [m["role"] for m in inputs] == ["user"]
    assert outputs[0]["role"] == "assistant" and outputs[0]["finish_reason"] == "tool_calls"
    call = next(p for p in outputs[0]["parts"] if p["type"] == "tool_call")
    assert call["id"] == "call_1" and call["name"] == "multiply"  # structure kept in every mode
    everything = json.dumps([dict(s.attributes) for s in otel.spans()])
    if mode == "off":
        assert "Paris" not in everything and "Six times" not in everything
        assert "content" not in inputs[0]["parts"][0] and "arguments" not in call
        assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in by_name(otel, "execute_tool").attributes
    elif mode == "on":
        assert inputs[0]["parts"][0]["content"] == "Is Paris nice?"
        assert call["arguments"] == {"a": 6, "b": 7}
        assert "Paris is the capital" in json.loads(chat[sc.GEN_AI_SYSTEM_INSTRUCTIONS])[0]["content"]
        assert by_name(otel, "execute_tool").attributes[sc.GEN_AI_TOOL_CALL_RESULT] == "42"
    else:
        assert "Paris" not in everything
        assert inputs[0]["parts"][0]["content"] == "Is [CITY] nice?"


def test_content_switch_from_environment(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_SENSITIVE_DATA", "true")
    (ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel()).invoke(
        {"q": "secret question"}, config={"callbacks": [handler(otel)]}
    )
    assert "secret question" in by_name(otel, "chat").attributes[sc.GEN_AI_INPUT_MESSAGES]


def test_unknown_model_price_is_never_zero(otel: Otel) -> None:
    model = ScriptedChatModel(model_name="my-private-model")
    (ChatPromptTemplate.from_messages([("human", "{q}")]) | model).invoke(
        {"q": "hi"}, config={"callbacks": [handler(otel)]}
    )
    chat = by_name(otel, "chat").attributes
    root = by_name(otel, "invoke_workflow").attributes
    assert sc.LLMOPS_COST_USD not in chat and sc.LLMOPS_COST_USD not in root
    assert root[sc.LLMOPS_COST_UNPRICED_CALLS] == 1
    assert root[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0


async def test_astream_ttft_usage_and_provider_response_id(otel: Otel) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel(
        script=["streamed asynchronously"]
    )
    h = handler(otel)
    chunks = [c async for c in chain.astream({"q": "hi there"}, config={"callbacks": [h]})]
    assert "".join(str(c.content) for c in chunks) == "streamed asynchronously"
    assert tree(otel.spans()) == ["invoke_workflow RunnableSequence", "  chat gpt-4o-mini"]
    a = by_name(otel, "chat").attributes
    assert a[sc.GEN_AI_RESPONSE_TTFC] > 0
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (2, 2)
    # the stream's message id is LangChain's own "lc_run-..." id, not a provider response id
    assert sc.GEN_AI_RESPONSE_ID not in a
    otel.exporter.clear()
    await chain.ainvoke({"q": "again"}, config={"callbacks": [h]})
    assert by_name(otel, "chat").attributes[sc.GEN_AI_RESPONSE_ID].startswith("scripted-")
    assert h.open_runs == 0


def test_plain_llm_gets_a_text_completion_span(otel: Otel) -> None:
    llm = ScriptedLLM(script=["Paris is in France."])
    chain = PromptTemplate.from_template("Where is {city}?") | llm
    h = handler(otel, capture_content=True)
    assert chain.invoke({"city": "Paris"}, config={"callbacks": [h]}) == "Paris is in France."
    assert tree(otel.spans()) == [
        "invoke_workflow RunnableSequence",
        "  text_completion gpt-3.5-turbo-instruct",
    ]
    span = by_name(otel, "text_completion")
    a = span.attributes
    assert span.kind == SpanKind.CLIENT
    assert a[sc.GEN_AI_OPERATION_NAME] == "text_completion"
    assert a[sc.GEN_AI_SYSTEM] == a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-3.5-turbo-instruct"
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (3, 4)  # from llm_output
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"] == "Where is Paris?"
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "Paris is in France."
    assert by_name(otel, "invoke_workflow").attributes[sc.LLMOPS_MODEL_CALLS] == 1
    assert h.open_runs == 0


def test_leaf_runs_with_children_nest_them(otel: Otel) -> None:
    """A tool or retriever that itself calls a model (agent-as-tool, multi-query retriever)."""
    model = ScriptedChatModel(script=["inner answer"])

    @tool
    def ask_expert(question: str) -> str:
        """Ask another model."""
        return model.invoke(question).text

    class AskingRetriever(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any = None) -> list[Document]:
            config = {"callbacks": run_manager.get_child()}  # how retrievers pass callbacks on
            return [Document(page_content=model.invoke(query, config=config).text)]

    def body(x: dict[str, Any]) -> str:
        AskingRetriever().invoke(x["q"])
        return ask_expert.invoke({"question": x["q"]})

    h = handler(otel)
    assert RunnableLambda(body).invoke({"q": "why?"}, config={"callbacks": [h]}) == "inner answer"
    assert tree(otel.spans()) == [
        "invoke_workflow body",
        "  retrieval AskingRetriever",
        "    chat gpt-4o-mini",
        "  execute_tool ask_expert",
        "    chat gpt-4o-mini",
    ]
    for span in otel.spans():
        assert span.end_time >= span.start_time
    tool_span = by_name(otel, "execute_tool")
    inner = [s for s in otel.spans() if s.name.startswith("chat")]
    assert {s.parent.span_id for s in inner} == {
        tool_span.context.span_id,
        by_name(otel, "retrieval").context.span_id,
    }
    assert by_name(otel, "invoke_workflow").attributes[sc.LLMOPS_MODEL_CALLS] == 2
    assert h.open_runs == 0


def test_content_json_matches_the_stdlib_and_survives_odd_values() -> None:
    from llmops_kit_langchain import content as cnt

    value = [{"role": "user", "parts": [{"type": "text", "content": "é \"q\"\n"}]}, (1, 2.5, None, True)]
    assert cnt.to_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    assert cnt.text_value(cyclic, None) == str(cyclic)  # never raises out of a callback
    assert cnt.text_value({"when": object}, None) == json.dumps({"when": str(object)}, separators=(",", ":"))

"""A scripted LangChain chat model for tests, samples and the offline demo.

It is a real ``BaseChatModel``: LangChain drives it through the same callback, streaming and
tool-binding paths as a provider model, and it reports ``usage_metadata`` the way providers
do (on the message, and on a final stream chunk only when ``stream_usage`` is on). Its token
counts are its own whitespace word counts, stated as such, so a test can compare what the
handler reports with what the model reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, Generation, LLMResult
from pydantic import ConfigDict, Field, PrivateAttr

#: One scripted turn: plain text, a full ``AIMessage`` (e.g. with ``tool_calls``), or a
#: function of the request messages returning either.
Turn = str | AIMessage | Callable[[list[BaseMessage]], "str | AIMessage"]


def count_words(messages: Sequence[BaseMessage]) -> int:
    """The scripted model's own token count: whitespace-separated words of every message."""
    return sum(len(m.text.split()) for m in messages)


def tool_call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    """A ``ToolCall`` dict in the shape ``AIMessage.tool_calls`` expects."""
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


class ScriptedChatModel(BaseChatModel):
    """Replies with its ``script`` in order (cycling when ``cycle``), reporting usage.

    ``usage`` overrides the counted usage of every reply (a dict in ``UsageMetadata`` shape,
    e.g. with ``input_token_details={"cache_read": 5}``); ``stream_usage=False`` streams
    without a usage chunk, like a provider without ``stream_options.include_usage``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: list[Any] = Field(default_factory=lambda: ["Hello from the scripted model."])
    model_name: str = "gpt-4o-mini"
    provider: str = "openai"
    cycle: bool = True
    usage: dict[str, Any] | None = None
    stream_usage: bool = True
    chunk_words: int = 1

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _next: int = PrivateAttr(default=0)
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def calls(self) -> int:
        """How many times the model actually generated (guard tests assert it was not called)."""
        return self._calls

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.model_name
        return params

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Accept tools like a provider model; the script decides which calls are made."""
        return self.bind(**kwargs) if kwargs else self

    def _take(self, messages: list[BaseMessage]) -> AIMessage:
        with self._lock:
            if self._next >= len(self.script):
                if not self.cycle or not self.script:
                    raise RuntimeError(
                        f"ScriptedChatModel script exhausted after {self._next} replies; add more turns"
                    )
                self._next = 0
            turn = self.script[self._next]
            self._next += 1
            self._calls += 1
        if callable(turn) and not isinstance(turn, AIMessage):
            turn = turn(messages)
        if isinstance(turn, str):
            return AIMessage(content=turn)
        if isinstance(turn, AIMessage):
            return turn.model_copy()
        raise TypeError(f"script turn must be str, AIMessage or callable, got {type(turn).__name__}")

    def _usage_for(self, messages: list[BaseMessage], reply: AIMessage) -> dict[str, Any]:
        if self.usage is not None:
            return dict(self.usage)
        inp = count_words(messages)
        out = len(reply.text.split()) + len(reply.tool_calls)
        return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._take(messages)
        reply.usage_metadata = self._usage_for(messages, reply)  # type: ignore[assignment]
        finish = "tool_calls" if reply.tool_calls else "stop"
        reply.response_metadata = {
            **reply.response_metadata,
            "model_name": self.model_name,
            "finish_reason": finish,
        }
        if reply.id is None:
            reply.id = f"scripted-{self._calls}"
        gen = ChatGeneration(message=reply, generation_info={"finish_reason": finish})
        return ChatResult(generations=[gen], llm_output={"model_name": self.model_name})

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._take(messages)
        words = reply.text.split(" ") if reply.text else []
        step = max(1, self.chunk_words)
        for i in range(0, len(words), step):
            piece = " ".join(words[i : i + step]) + (" " if i + step < len(words) else "")
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        last: dict[str, Any] = {
            "response_metadata": {
                "model_name": self.model_name,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        }
        if reply.tool_calls:
            last["tool_call_chunks"] = [
                {"name": tc["name"], "args": _json(tc["args"]), "id": tc["id"], "index": n}
                for n, tc in enumerate(reply.tool_calls)
            ]
        if self.stream_usage:
            last["usage_metadata"] = self._usage_for(messages, reply)
        chunk = ChatGenerationChunk(message=AIMessageChunk(content="", **last))
        if run_manager:
            run_manager.on_llm_new_token("", chunk=chunk)
        yield chunk


class ScriptedLLM(BaseLLM):
    """A plain (text-completion) LLM replying with ``script`` in order, cycling.

    Usage is reported the way OpenAI-style completion providers do: in
    ``llm_output["token_usage"]`` (prompt/completion tokens: whitespace word counts).
    """

    script: list[str] = Field(default_factory=lambda: ["Hello from the scripted LLM."])
    model_name: str = "gpt-3.5-turbo-instruct"
    provider: str = "openai"

    _next: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted-llm"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        return params

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        generations, prompt_tokens, completion_tokens = [], 0, 0
        for prompt in prompts:
            text = self.script[self._next % len(self.script)]
            self._next += 1
            prompt_tokens += len(prompt.split())
            completion_tokens += len(text.split())
            generations.append([Generation(text=text, generation_info={"finish_reason": "stop"})])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return LLMResult(
            generations=generations, llm_output={"token_usage": usage, "model_name": self.model_name}
        )


def _json(value: Any) -> str:
    import json

    return json.dumps(value)

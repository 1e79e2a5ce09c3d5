"""Harm-category phrase lists for the offline analyzer, and a linear-time token matcher.

The lists are deliberately modest and written for *precision*: multi-word phrases that
carry intent ("i will kill you", "how to kill myself") rather than single words that are
everyday vocabulary ("kill the process", "shoot a photo"). No slurs are spelled out:
hate speech is approximated by dehumanising constructions about groups. Severities use
Azure's 0-7 scale (EightSeverityLevels) so thresholds mean the same thing for both backends.

Phrase syntax: tokens separated by spaces; ``a|b`` alternatives for one token; a trailing
``?`` makes a token optional; ``$name`` refers to a word set in ``_SETS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress
from typing import NamedTuple

_SETS: dict[str, tuple[str, ...]] = {
    "group": (
        "immigrants", "refugees", "foreigners", "muslims", "jews", "christians", "hindus", "sikhs",
        "buddhists", "atheists", "blacks", "whites", "asians", "latinos", "hispanics", "arabs",
        "africans", "mexicans", "gays", "lesbians", "homosexuals", "trans", "transgender", "women",
        "men", "disabled", "migrants", "gypsies", "roma", "natives",
    ),
    "dehumanize": (
        "vermin", "animals", "subhuman", "parasites", "cockroaches", "rats", "filth", "savages",
        "disease", "plague", "scum", "apes", "insects", "trash", "garbage",
    ),
    "eliminate": ("exterminated", "eradicated", "wiped", "gassed", "eliminated", "purged"),
    "harmverb": ("kill", "murder", "stab", "shoot", "strangle", "behead", "slaughter", "execute"),
    "me": ("i", "we"),
    "you": ("you", "u", "ya", "him", "her", "them"),
    "will": ("will", "'ll", "gonna", "shall", "must"),
    "weapon": ("bomb", "pipe", "explosive", "explosives", "grenade", "ied", "molotov", "nerve", "bioweapon"),
    "selfkill": ("kill", "hang", "harm", "hurt", "cut", "poison", "shoot", "drown"),
    "mself": ("myself", "yourself", "oneself"),
}

# (category, severity, phrase). Ordered by category for review; matching does not depend on order.
_PHRASES: tuple[tuple[str, int, str], ...] = (
    # --- Violence -------------------------------------------------------------------------
    ("Violence", 6, "$me $will $harmverb $you"),
    ("Violence", 6, "$me will|'ll|am|are going|gonna to? $harmverb $you"),
    ("Violence", 6, "i'm|we're going|gonna to? $harmverb $you"),
    ("Violence", 6, "$me want|plan to $harmverb $you"),
    ("Violence", 6, "how to|do|can i|we? make|build|assemble|construct a|an $weapon"),
    ("Violence", 6, "make|build a|an? $weapon at home"),
    ("Violence", 6, "shoot|bomb up? the|a school|mosque|church|synagogue|temple|concert|mall"),
    ("Violence", 6, "plant a bomb"),
    ("Violence", 6, "slit your|his|her|their throat"),
    ("Violence", 5, "beat $you to death"),
    ("Violence", 5, "burn your|his|her|their house down?"),
    ("Violence", 5, "i|we know where $you live"),
    ("Violence", 5, "deserves|deserve to be? die|killed|shot|murdered"),
    ("Violence", 4, "kill|murder|stab|strangle $you"),
    ("Violence", 4, "break your|his|her legs|neck|arms"),
    ("Violence", 4, "blow up the|a|this|that building|office|station|plane|train|bridge"),
    ("Violence", 4, "how to poison someone|somebody|a person|my"),
    ("Violence", 4, "how to hurt|kill someone|somebody|a person"),
    ("Violence", 3, "punch|hit|smash $you in the face"),
    ("Violence", 3, "beat $you up"),
    ("Violence", 2, "mass shooting"),
    ("Violence", 2, "bloodbath"),
    # --- SelfHarm -------------------------------------------------------------------------
    ("SelfHarm", 6, "how to|can|should|do i|we? $selfkill $mself"),
    ("SelfHarm", 6, "ways|methods|way|method to $selfkill $mself"),
    ("SelfHarm", 6, "i want|need|plan|am going|'m going to? $selfkill $mself"),
    ("SelfHarm", 6, "best|easiest|painless|quickest way|method to die|suicide"),
    ("SelfHarm", 6, "how to commit suicide"),
    ("SelfHarm", 6, "how many pills to overdose|die"),
    ("SelfHarm", 6, "end|take my own? life"),
    ("SelfHarm", 5, "i|i'm want|wanna|going to die"),
    ("SelfHarm", 5, "kill|hurt|cut|harm $mself"),
    ("SelfHarm", 5, "i feel|am|'m suicidal"),
    ("SelfHarm", 4, "commit suicide"),
    ("SelfHarm", 4, "starve myself"),
    ("SelfHarm", 2, "suicide|suicidal|overdose"),
    ("SelfHarm", 2, "self harm|injury"),
    # --- Hate -----------------------------------------------------------------------------
    ("Hate", 6, "$group are|r $dehumanize"),
    ("Hate", 6, "$group are|r not human"),
    ("Hate", 6, "$group should|must be $eliminate"),
    ("Hate", 6, "kill|exterminate|gas all? the? $group"),
    ("Hate", 6, "ethnic cleansing now|is|of"),
    ("Hate", 5, "$group are|r an? inferior race|species|people"),
    ("Hate", 5, "$group deserve to die|suffer"),
    ("Hate", 4, "i|we hate all? $group"),
    ("Hate", 4, "master|superior|inferior race"),
    ("Hate", 4, "$group should go back to|where their|they country|countries|came"),
    ("Hate", 4, "go back to your country"),
    ("Hate", 4, "white power|supremacy"),
    ("Hate", 3, "all $group are criminals|terrorists|thieves|rapists|stupid|lazy"),
    # --- Sexual ---------------------------------------------------------------------------
    ("Sexual", 7, "child|kid|minor|underage porn|pornography|nudes|sex"),
    ("Sexual", 7, "sex|sexual with a|an? child|minor|kid|underage"),
    ("Sexual", 6, "explicit|graphic|detailed sex|sexual scene|scenes|story|act|acts"),
    ("Sexual", 6, "describe|write sex|sexual intercourse|acts in? explicit|graphic? detail"),
    ("Sexual", 6, "hardcore porn|pornography"),
    ("Sexual", 5, "send me|your nudes|naked pictures|photos|pics"),
    ("Sexual", 5, "have sex with me"),
    ("Sexual", 4, "porn|pornographic|xxx"),
    ("Sexual", 3, "pornography"),
    ("Sexual", 4, "nudes"),
    ("Sexual", 4, "sexting"),
    ("Sexual", 2, "erotic|erotica|sexy|nsfw"),
)

# Words of normalised text, with contractions already split: ``i'll`` gives ``i`` + ``'ll`` (the
# word stops at the apostrophe and ``'[a-z]+`` takes the rest), except ``i'm`` and ``we're``, which
# phrases spell whole, when no letter follows (``i'mm`` is ``i`` + ``'mm``). Scanning left to right,
# the word branch takes every letter/digit run whole, so ``i'm`` can only start where a run starts.
# One C-level ``findall`` replaces a Python loop over every token.
_TOKEN_RE = re.compile(r"i'm(?![a-z])|we're(?![a-z])|[a-z0-9]+|'[a-z]+")
# ASCII characters no token can contain, mapped to a space: after this translation ``str.split`` gives
# the runs of [a-z0-9'] that tokens are found in (no token spans another character, and at a run's end
# the look-aheads see a non-letter either way). On ASCII text both passes run in C at a few ns per
# character, where findall costs about 12: on 2 KB of prose, 7 µs instead of 24. The characters tokens
# are made of map to themselves: one the table lacked would cost ``translate`` a KeyError raised and
# cleared per distinct letter (half a microsecond on a 300-character text).
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789'"
_SEPARATORS = str.maketrans({chr(c): chr(c) if chr(c) in _TOKEN_CHARS else " " for c in range(128)})
# Below this length findall's fixed cost is the smaller one (with warm caches the split path wins from
# about 12 characters on). A text with no apostrophe takes the split path from here: inside a governed
# run a 57-character answer costs 1.5 µs less than with findall. One with an apostrophe keeps findall
# below _SPLIT_CHARS_PER_APOSTROPHE characters (no count needed: one apostrophe is already too many).
_SPLIT_MIN_CHARS = 16
# A run holding an apostrophe is tokenised by findall on its own (contractions split there), about
# half a microsecond each: with more than one apostrophe per this many characters, one findall over
# the whole text is cheaper. That also bounds the cost of apostrophe-dense (adversarial) text.
_SPLIT_CHARS_PER_APOSTROPHE = 64
# From this many tokens on, the phrase scan finds its candidate positions with ``compress``.
_COMPRESS_MIN_TOKENS = 32


@dataclass(frozen=True, slots=True)
class _Element:
    words: frozenset[str]
    optional: bool


@dataclass(frozen=True, slots=True)
class Phrase:
    category: str
    severity: int
    source: str
    elements: tuple[_Element, ...]


def _parse(category: str, severity: int, source: str) -> Phrase:
    elements = []
    for raw in source.split():
        optional = raw.endswith("?")
        raw = raw.rstrip("?")
        words: set[str] = set()
        for alt in raw.split("|"):
            if alt.startswith("$"):
                words.update(_SETS[alt[1:]])
            else:
                words.add(alt)
        elements.append(_Element(frozenset(words), optional))
    return Phrase(category, severity, source, tuple(elements))


def tokenize(text: str) -> list[str]:
    """Words of already-normalised text; ``i'll`` splits as ``i`` + ``'ll`` so contractions match."""
    n = len(text)
    if n < _SPLIT_MIN_CHARS or not text.isascii():
        return _TOKEN_RE.findall(text)
    if "'" not in text:  # no contraction to split: the runs are the tokens
        return text.translate(_SEPARATORS).split()
    apostrophes = text.count("'") if n >= _SPLIT_CHARS_PER_APOSTROPHE else 1  # at least one, as seen
    if apostrophes * _SPLIT_CHARS_PER_APOSTROPHE > n:
        return _TOKEN_RE.findall(text)
    runs = text.translate(_SEPARATORS).split()
    tokens: list[str] = []
    for run in runs:
        if "'" in run:
            tokens += _TOKEN_RE.findall(run)
        else:
            tokens.append(run)
    return tokens


@dataclass(frozen=True, slots=True)
class TermHit:
    category: str
    severity: int
    phrase: str


class _Entry(NamedTuple):
    """One way a phrase can be spelled (optional elements taken or skipped), past its first two
    words: ``rest`` is what must follow them, element by element."""

    source: str
    category: str
    severity: int
    rest: tuple[frozenset[str], ...]


def _shapes(elements: tuple[_Element, ...]) -> list[tuple[frozenset[str], ...]]:
    """Every sequence of word sets the phrase can match: each optional element taken or skipped.
    That doubles per optional element, but phrases have few (the built-in ones four shapes at most)."""
    shapes: list[tuple[frozenset[str], ...]] = [()]
    for el in elements:
        taken = [(*shape, el.words) for shape in shapes]
        shapes = taken + shapes if el.optional else taken
    return list(dict.fromkeys(shapes))


class _Start(NamedTuple):
    """The phrase shapes that start with one word, by the word after it. ``alone`` holds the
    one-word shapes (they match whatever follows); ``by_next[w]`` holds those plus the shapes whose
    second element accepts ``w``, all in phrase order, so the hit order is the phrase order."""

    by_next: dict[str, list[_Entry]]
    alone: list[_Entry]


class TermMatcher:
    """Phrase matcher indexed by every word a phrase can start with and the word after it: two
    dict lookups per candidate token, a few set lookups on a hit, so cost grows linearly with the
    text.

    A phrase matches at a token when one of its shapes (see :func:`_shapes`) matches the tokens
    from there: the same as backtracking over its optional elements, without the recursion. The
    second-word lookup matters because common words start many phrases ("i" starts eight) and
    almost never continue one."""

    def __init__(self, phrases: Iterable[tuple[str, int, str]] = _PHRASES) -> None:
        # Per start word, (phrase, what follows the word) for every shape, in phrase order.
        tails_by_word: dict[str, list[tuple[Phrase, tuple[frozenset[str], ...]]]] = {}
        for cat, sev, src in phrases:
            phrase = _parse(cat, sev, src)
            for shape in _shapes(phrase.elements):
                # The empty shape (every element optional and skipped) matches at any start word.
                first, tail = (shape[0], shape[1:]) if shape else (self._first_words(phrase.elements), ())
                for word in first:
                    tails_by_word.setdefault(word, []).append((phrase, tail))
        self._index: dict[str, _Start] = {}
        for word, tails in tails_by_word.items():
            seconds = {w for _p, tail in tails if tail for w in tail[0]}
            by_next = {
                nxt: [_Entry(p.source, p.category, p.severity, t[1:]) for p, t in tails if not t or nxt in t[0]]
                for nxt in seconds
            }
            alone = [_Entry(p.source, p.category, p.severity, ()) for p, t in tails if not t]
            self._index[word] = _Start(by_next, alone)
        # The start words alone: ``isdisjoint`` against a frozenset needs no keys view per scan, and
        # reads a smaller table (which matters most when caches are cold, as inside a governed run).
        self._starts = frozenset(self._index)

    @staticmethod
    def _first_words(elements: tuple[_Element, ...]) -> set[str]:
        firsts: set[str] = set()
        for el in elements:
            firsts |= el.words
            if not el.optional:
                break
        return firsts

    @staticmethod
    def _rest_matches(tokens: list[str], j: int, rest: tuple[frozenset[str], ...]) -> bool:
        """Does each word set of ``rest`` accept its token, from token ``j`` on?"""
        return len(rest) <= len(tokens) - j and all(map(frozenset.__contains__, rest, tokens[j : j + len(rest)]))

    def scan(self, tokens: list[str]) -> list[TermHit]:
        hits: list[TermHit] = []
        starts = self._starts
        # Most texts contain no word any phrase starts with: ``isdisjoint`` tests every token in C.
        if starts.isdisjoint(tokens):
            return hits
        index = self._index
        seen: set[str] = set()
        n = len(tokens)
        # On a long text Python loops only over the positions that can start a phrase, which
        # ``compress`` finds in C; on a short one its three iterators cost more than testing each
        # position here (a comprehension to collect them first costs a function call of its own).
        positions: Iterable[int] = (
            range(n) if n < _COMPRESS_MIN_TOKENS else compress(range(n), map(starts.__contains__, tokens))
        )
        for i in positions:
            token = tokens[i]
            if token not in starts:
                continue
            start = index[token]
            entries = start.by_next.get(tokens[i + 1], start.alone) if i + 1 < n else start.alone
            for source, category, severity, rest in entries:
                if source not in seen and (not rest or self._rest_matches(tokens, i + 2, rest)):
                    seen.add(source)
                    hits.append(TermHit(category, severity, source))
        return hits

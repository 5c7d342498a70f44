"""Risk-language detection: does a client's free text suggest risk of self-harm or suicide?

Approach. Every free text a client sends (check-in comment, stray or edited message) goes
through ``assess_risk``. The text is normalised (Unicode NFKC, casefold, accents and
zero-width/format characters removed, look-alike Cyrillic/Greek letters mapped to Latin,
leetspeak such as ``k1ll``/``$uicide`` mapped, letters spelled out with dots or spaces
joined, repeated letters collapsed so ``diiiie`` reads ``die``, intensifiers such as
"just" dropped) and split into tokens and clauses. Phrase patterns from
``prompts/risk/lexicon.toml`` are matched over the tokens of English, Spanish and German
at once, because people mix languages and the locale setting may not match what they
write. The long, distinctive key words also match with one typo
(``sucide``, ``selbstmort``). All words, phrases, negation cues, idiom exceptions and emoji
are data; this module only holds the mechanics.

A hit is reported as signal names (``explicit_intent``, ``method_medication``, ``dose``,
``plan_farewell``, ``third_person`` ...), never as the matched text, with a level:
``concern`` (worth a gentle check: a medication name on its own, a method emoji, a
friend at risk) or ``high`` (intent, plan, self-harm, or two different kinds of signal
together). Any hit sets ``at_risk``.

Why methods and emoji, not only "suicide": Crisis Text Line's analysis of its
conversations found that words such as ibuprofen, Tylenol, "800 mg" and the pill emoji
predicted an active rescue better than the word "suicide" (see docs/risk-language.md),
so medication, dose and plan language are first-class signals here.

Negation and idioms are handled without hiding real risk. A negation ("not", "never",
"nunca", "nicht") cancels a phrase only when it governs it directly (at most a few small
function words between, same clause, in the style of NegEx, Chapman et al. 2001), when no
hedge such as "not sure" or "I think" comes before it, and never for medication, dose or
emoji language. "I'm not suicidal, but I think about it" keeps a signal
(``ambivalent_negation``). An idiom ("dying of laughter", "me muero de risa", "ich lach
mich tot") only removes a phrase it overlaps; risk elsewhere in the text still counts.

Generalisation. Each word is also read as the lexicon words it inflects (a table
generated from simplemma's dictionaries, prompts/risk/lemmas.tsv), and a long word as its
longest tail in the lexicon (German compounds), so patterns are written per kind of
statement (self-harm verb near a body part or tool, hopelessness about living or waking
up, burden, goodbye acts, method research) rather than per phrase.

Limits. This is lexical matching, not understanding: it misses new slang, coded or
indirect language, sarcasm it cannot see, risk spread over several messages, and any
language other than en/es/de. On a held-out block written before any change it catches
97.5 % of risk lines (it caught 40.5 % before the generalisation); docs/risk-language.md
has the figures per language and category. It also flags some harmless texts (any
medication name, "this is goodbye" at the last session). It is a safety net that prompts a human
to look, not a clinical assessment, and it errs on purpose toward false alarms: a kind
message with crisis numbers sent in error costs little, a missed crisis may cost a life.

Everything is linear in the input length: no backtracking regular expressions, bounded
gaps in patterns, and dictionary look-ups per token, so a 100,000-character message is
safe. The module is pure: no I/O after the lexicon is loaded, no logging, no network.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Any, Final, Literal

import prompts

Level = Literal["none", "concern", "high"]
LEVELS: Final[tuple[Level, ...]] = ("none", "concern", "high")
_LEVEL_RANK: Final[dict[str, int]] = {"none": 0, "concern": 1, "high": 2}

DEFAULT_LEXICON_PATH: Final = Path(prompts.__file__).parent / "risk" / "lexicon.toml"
# Inflected form -> lexicon word(s) with the same lemma, generated from simplemma's
# dictionaries by scripts/risk_lemmas.py (the file sits next to the lexicon).
LEMMAS_FILENAME: Final = "lemmas.tsv"

# German compounds: a long word whose tail is a lexicon word also reads as that tail
# ("Armeritzen" -> "ritzen", "Schlaftabletten" -> "tabletten"). Bounds keep it cheap.
_COMPOUND_MIN_WORD: Final = 7
_COMPOUND_MIN_HEAD: Final = 4
_COMPOUND_MIN_MODIFIER: Final = 3

# The code itself relies on this one signal name (the rest are data).
AMBIVALENT_NEGATION: Final = "ambivalent_negation"


@dataclass(frozen=True)
class RiskAssessment:
    """The outcome for one text: hit or not, how urgent, and which rules fired (no text)."""

    at_risk: bool
    level: Level
    signals: tuple[str, ...]


NO_RISK: Final = RiskAssessment(at_risk=False, level="none", signals=())


class LexiconError(ValueError):
    """A malformed risk lexicon; the message names the file, the field and the problem."""


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

# Apostrophe look-alikes become "'" first, so NFKC cannot turn an acute accent into a
# combining mark and split "don´t" in two.
_APOSTROPHES: Final = str.maketrans({c: "'" for c in "\u2019\u2018\u0060\u00b4\u02bc\u2032"})

# Cyrillic and Greek letters that look Latin: a common way to dodge keyword filters
# (Unicode TR39 confusables, lower-case subset). Only these languages' detection
# matters here, so mapping them in all text is harmless.
_CONFUSABLES: Final = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
        "ӏ": "l", "ո": "n", "ս": "u", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v",
        "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    }
)  # fmt: skip

_INNER_APOSTROPHE: Final = re.compile(r"(?<=[^\W\d_])'(?=[^\W\d_])")
_LEET_SYMBOL: Final = re.compile(
    r"(?<=[^\W\d_])[!|](?=[^\W\d_])|\$(?=[^\W\d_])|(?<=[^\W\d_])\$|@(?=[^\W\d_])"
)
_LEET_SYMBOL_MAP: Final[dict[str, str]] = {"!": "i", "|": "l", "$": "s", "@": "a"}
_WORD_JOINERS: Final = re.compile(r"[-\u2010\u2011\u2012_/\\]")
_REPEATED_LETTER: Final = re.compile(r"([^\W\d_])\1+")
_REPEATED_STAR: Final = re.compile(r"\*+")

# Digits read as letters inside words that also hold letters ("k1ll", "5u1c1d3");
# "1" stands for both "i" and "l", so both readings are kept.
_LEET_DIGITS_I: Final = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
_LEET_DIGITS_L: Final = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t"})

_DROPPED_CATEGORIES: Final = frozenset({"Mn", "Me", "Cf", "Cs", "Co", "Cn"})


# Line-like control characters end a sentence; other controls are just spaces.
_CONTROLS: Final = str.maketrans(
    {i: ("\n" if chr(i) in "\n\r\x0b\x0c\x1c\x1d\x1e\x85" else " ")
     for i in [*range(0x20), *range(0x7F, 0xA0)]}
    | {0x2028: "\n", 0x2029: "\n"}
)  # fmt: skip


def _strip_marks(text: str) -> str:
    """Decompose, then drop accents and invisible, format and unassigned characters."""
    category = unicodedata.category
    return "".join(
        ch
        for ch in unicodedata.normalize("NFD", text)
        if ch.isascii() or category(ch) not in _DROPPED_CATEGORIES
    )


def normalise_text(text: str) -> str:
    """Fold a text to the form the lexicon is written against (see module docstring)."""
    text = text.translate(_APOSTROPHES)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    if not text.isascii():
        text = _strip_marks(text).translate(_CONFUSABLES)
    text = text.translate(_CONTROLS)
    text = _INNER_APOSTROPHE.sub("", text)
    text = _LEET_SYMBOL.sub(lambda m: _LEET_SYMBOL_MAP[m.group()], text)
    text = _WORD_JOINERS.sub(" ", text)
    return _REPEATED_LETTER.sub(r"\1", text)


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

_WORD: Final = 0
_NUM: Final = 1
_SYM: Final = 2
_SOFT: Final = 3  # comma-like boundary: ends a clause
_HARD: Final = 4  # sentence boundary

# A number with separators, a word (letters/digits, "*" allowed inside as a masked
# letter), a newline, or any other single character. No nested ambiguity: linear time.
_TOKEN_RE: Final = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:\*+[^\W_]+)*|\n|\S")
_NUMBER_RE: Final = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_UNIT_RE: Final = re.compile(r"(\d+)([^\W\d_]+)")
_THOUSANDS_RE: Final = re.compile(r"\d{1,3}(?:[.,]\d{3})+")
_SPELLING_GAP: Final = re.compile(r"[ \t.*\u00b7]{1,3}")
_SPELLING_SEPARATORS: Final = frozenset(".*\u00b7")

_HARD_PUNCT: Final = frozenset(".!?;\u2026\u3002\n")
_SOFT_PUNCT: Final = frozenset(",:()[]{}\u2014\u2013\u00ab\u00bb\u00bf\u00a1")

_FORM_CACHE_LIMIT: Final = 50_000


@dataclass(frozen=True, slots=True)
class _Tokens:
    """A tokenised text: kinds, spellings per token, clause and sentence numbers."""

    kinds: list[int]
    forms: list[tuple[str, ...]]


# ---------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------

_LIT: Final = 0
_GAP: Final = 1
_END: Final = 2

_MAX_GAP: Final = 8
_MAX_EXPANSIONS: Final = 512
_MIN_PREFIX: Final = 3

# Pattern kinds.
_RISK: Final = 0
_IDIOM: Final = 1
_NEGATION: Final = 2
_UNCERTAIN: Final = 3
_CONTEXT: Final = 4
_AMBIVALENCE: Final = 5


@dataclass(frozen=True, slots=True)
class _Slot:
    """One position of a pattern: a set of words/prefixes, a number, a gap or a clause end."""

    op: int
    literals: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    number: bool = False
    many: bool = False
    gap: int = 0


@dataclass(frozen=True, slots=True)
class _Rule:
    """A risk rule: its signal, level, and how negation and context apply."""

    signal: str
    level: str
    negatable: bool
    requires_context: bool


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A compiled pattern of one kind (risk, idiom, negation cue ...)."""

    kind: int
    slots: tuple[_Slot, ...]
    rule: int  # index into rules for risk patterns, else -1
    across_commas: bool  # may its gaps skip commas? (idioms; German subordinate clauses)


@dataclass(frozen=True, slots=True)
class _Match:
    """Where one pattern matched: token span and the positions its gaps skipped."""

    pattern: int
    start: int
    end: int
    gaps: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _SignalDef:
    """What a signal means for the outcome (all from the lexicon)."""

    level: str
    negatable: bool
    escalates: bool
    overrides: frozenset[str]


class _Node:
    """A trie node over pattern slots, with dispatch tables so a token costs a few look-ups.

    Expanded groups make many patterns share their first words ("not sure if i want to
    live", "not sure i want to live" ...); a trie does that shared work once.
    """

    __slots__ = ("by_slot", "words", "prefixes", "prefix_lengths", "numbers", "gaps", "end", "done")

    def __init__(self) -> None:
        """An empty node."""
        self.by_slot: dict[_Slot, _Node] = {}
        self.words: dict[str, list[_Node]] = {}
        self.prefixes: dict[str, list[_Node]] = {}
        self.prefix_lengths: tuple[int, ...] = ()
        self.numbers: list[tuple[bool, _Node]] = []  # (needs many, child) for digit tokens
        self.gaps: list[tuple[int, _Node]] = []
        self.end: list[_Node] = []
        self.done: list[int] = []

    def child(self, slot: _Slot) -> _Node:
        """The node after ``slot``, created and registered for dispatch if new."""
        existing = self.by_slot.get(slot)
        if existing is not None:
            return existing
        node = _Node()
        self.by_slot[slot] = node
        if slot.op == _GAP:
            self.gaps.append((slot.gap, node))
        elif slot.op == _END:
            self.end.append(node)
        else:
            for word in slot.literals:
                self.words.setdefault(word, []).append(node)
            for prefix in slot.prefixes:
                self.prefixes.setdefault(prefix, []).append(node)
            self.prefix_lengths = tuple(sorted({len(p) for p in self.prefixes}))
            if slot.number:
                self.numbers.append((slot.many, node))
        return node

    def next_nodes(self, kind: int, forms: tuple[str, ...], many: int) -> list[_Node]:
        """Children whose slot accepts a token of this kind and these readings."""
        out: list[_Node] = []
        if kind == _NUM:
            if self.numbers:
                value = _number_value(forms[0])
                out.extend(
                    node for needs_many, node in self.numbers if not needs_many or value >= many
                )
            out.extend(self.words.get(forms[0], ()))
            return out
        for form in forms:
            out.extend(self.words.get(form, ()))
            for length in self.prefix_lengths:
                if length > len(form):
                    break
                out.extend(self.prefixes.get(form[:length], ()))
        if len(out) > 1:
            out = list({id(node): node for node in out}.values())
        return out


# ---------------------------------------------------------------------------
# Lexicon validation helpers
# ---------------------------------------------------------------------------

_TOP_KEYS: Final = frozenset(
    {"schema_version", "fuzzy_min_length", "max_negation_fillers", "many_threshold",
     "escalation_threshold", "signals", "languages"}
)  # fmt: skip
_SIGNAL_KEYS: Final = frozenset({"level", "negatable", "escalates", "overrides", "description"})
_LIST_KEYS: Final = frozenset(
    {"negation_cues", "negation_fillers", "uncertainty_cues", "clause_breaks",
     "ambivalence_cues", "number_words", "many_words", "dose_units", "emoji_context",
     "fuzzy", "fuzzy_exclude", "idioms", "ignorable_words", "uninflected_lemmas"}
)  # fmt: skip
_LANGUAGE_KEYS: Final = _LIST_KEYS | {"rules"}
_RULE_KEYS: Final = frozenset(
    {"signal", "level", "patterns", "requires_context", "across_commas", "note"}
)


def _fail(origin: str, where: str, problem: str) -> LexiconError:
    """Build the error every validation failure raises."""
    return LexiconError(f"{origin}: {where}: {problem}")


def _table(value: object, origin: str, where: str) -> dict[str, Any]:
    """Require a TOML table."""
    if not isinstance(value, dict):
        raise _fail(origin, where, f"expected a table, got {type(value).__name__}")
    return value


def _strings(value: object, origin: str, where: str) -> list[str]:
    """Require a list of non-empty strings."""
    if not isinstance(value, list):
        raise _fail(origin, where, f"expected a list of strings, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _fail(origin, f"{where}[{i}]", "expected a non-empty string")
    return list(value)


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], origin: str, where: str) -> None:
    """Reject unknown keys, which are almost always typos."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(origin, where, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _int_setting(
    data: Mapping[str, Any], key: str, default: int, low: int, high: int, origin: str
) -> int:
    """Read an integer setting within bounds."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(origin, key, f"expected an integer from {low} to {high}, got {value!r}")
    return value


def _is_plain_word(alternative: str) -> bool:
    """A single word or emoji (not empty, not a gap, number or anchor)."""
    return (
        bool(alternative)
        and not any(ch.isspace() for ch in alternative)
        and alternative[0] not in "~#$"
    )


def _expand_groups(pattern: str, origin: str, where: str) -> list[str]:
    """Expand "(a b|c|)" groups into plain patterns (no nesting)."""
    pieces: list[list[str]] = []
    pos = 0
    while pos < len(pattern):
        open_at = pattern.find("(", pos)
        close_at = pattern.find(")", pos)
        if open_at < 0:
            if close_at >= 0:
                raise _fail(origin, where, f"unbalanced ')' in {pattern!r}")
            pieces.append([pattern[pos:]])
            break
        if 0 <= close_at < open_at:
            raise _fail(origin, where, f"unbalanced ')' in {pattern!r}")
        pieces.append([pattern[pos:open_at]])
        close_at = pattern.find(")", open_at)
        if close_at < 0:
            raise _fail(origin, where, f"unclosed '(' in {pattern!r}")
        inner = pattern[open_at + 1 : close_at]
        if "(" in inner:
            raise _fail(origin, where, f"nested groups are not supported in {pattern!r}")
        alternatives = [alt.strip() for alt in inner.split("|")]
        if all(_is_plain_word(alt) for alt in alternatives):
            # One-word alternatives become one slot: no expansion needed.
            pieces.append([" " + "|".join(alternatives) + " "])
        else:
            pieces.append([" " + alt + " " for alt in alternatives])
        pos = close_at + 1
    total = 1
    for piece in pieces:
        total *= len(piece)
    if total > _MAX_EXPANSIONS:
        raise _fail(
            origin, where, f"{pattern!r} expands to {total} patterns (max {_MAX_EXPANSIONS})"
        )
    return [" ".join("".join(combo).split()) for combo in product(*pieces)]


# ---------------------------------------------------------------------------
# The compiled lexicon
# ---------------------------------------------------------------------------


class RiskLexicon:
    """A validated, compiled lexicon; ``assess`` runs the detector with it."""

    def __init__(
        self,
        data: Mapping[str, Any],
        origin: str,
        lemmas: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        """Validate the parsed TOML and compile it; raise LexiconError on any problem.

        ``lemmas`` maps a normalised inflected form to the lexicon words it is an
        inflection of ("cortando" -> "cortar", "armen" -> "arm"): each becomes an extra
        reading of the token, so a pattern written with one form of a word matches all.
        """
        self._origin = origin
        self._lemmas: Mapping[str, tuple[str, ...]] = lemmas or {}
        self._word_cache: dict[str, str] = {}  # lexicon words repeat across expansions
        self._slot_cache: dict[tuple[str, bool], _Slot] = {}
        _check_keys(data, _TOP_KEYS, origin, "top level")
        if data.get("schema_version") != 1:
            raise _fail(origin, "schema_version", "expected schema_version = 1")
        self._fuzzy_min = _int_setting(data, "fuzzy_min_length", 6, 4, 20, origin)
        self._max_fillers = _int_setting(data, "max_negation_fillers", 4, 0, 8, origin)
        self._many_threshold = _int_setting(data, "many_threshold", 10, 2, 10_000, origin)
        self._escalation = _int_setting(data, "escalation_threshold", 2, 2, 10, origin)
        self._signals = self._load_signals(data.get("signals"))
        self._signal_order = {name: i for i, name in enumerate(self._signals)}

        self._patterns: list[_Pattern] = []
        self._rules: list[_Rule] = []
        self._fillers: set[str] = set()
        self._breaks: set[str] = set()
        self._number_words: set[str] = set()
        self._many_words: set[str] = set()
        self._units: set[str] = set()
        self._fuzzy_words: set[str] = set()
        self._fuzzy_exclude: set[str] = set()
        self._single_negations: set[str] = set()
        self._ignorable: set[str] = set()
        # Dictionary lemmas whose inflections are not read as each other: for dying and
        # killing, tense and person carry the meaning ("died" reports, "die" wishes; "me
        # mata" is "it kills me", "me mato" is "I kill myself"). Used by scripts/risk_lemmas.py.
        self.uninflected_lemmas: set[str] = set()
        self._seen_patterns: set[tuple[int, int, tuple[_Slot, ...]]] = set()
        pending: list[tuple[int, int, bool, str, str]] = []  # kind, rule, commas, text, where

        languages = _table(data.get("languages"), origin, "languages")
        if not languages:
            raise _fail(origin, "languages", "no language defined")
        for lang, raw in languages.items():
            self._load_language(lang, _table(raw, origin, f"languages.{lang}"), pending)

        # Word lists must be known before patterns compile (numbers, units).
        for kind, rule, commas, text, where in pending:
            self._add_pattern(kind, rule, commas, text, where)
        self._vocabulary = self._collect_vocabulary()
        self._index_patterns()
        self._index_fuzzy()
        self._form_cache: dict[str, tuple[str, ...]] = {}

    # -- loading -----------------------------------------------------------

    def _load_signals(self, raw: object) -> dict[str, _SignalDef]:
        """Read the signal table (levels, negation, escalation, overrides)."""
        origin = self._origin
        table = _table(raw, origin, "signals")
        signals: dict[str, _SignalDef] = {}
        for name, value in table.items():
            where = f"signals.{name}"
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise _fail(origin, where, "signal names are lower_snake_case")
            entry = _table(value, origin, where)
            _check_keys(entry, _SIGNAL_KEYS, origin, where)
            level = entry.get("level")
            if level not in ("concern", "high"):
                raise _fail(
                    origin, f"{where}.level", f"expected 'concern' or 'high', got {level!r}"
                )
            flags: dict[str, bool] = {}
            for key, default in (("negatable", False), ("escalates", True)):
                flag = entry.get(key, default)
                if not isinstance(flag, bool):
                    raise _fail(origin, f"{where}.{key}", "expected true or false")
                flags[key] = flag
            overrides = _strings(entry.get("overrides", []), origin, f"{where}.overrides")
            signals[name] = _SignalDef(
                level=level,
                negatable=flags["negatable"],
                escalates=flags["escalates"],
                overrides=frozenset(overrides),
            )
        for name, sig in signals.items():
            for other in sig.overrides:
                if other not in signals:
                    raise _fail(origin, f"signals.{name}.overrides", f"unknown signal {other!r}")
        if AMBIVALENT_NEGATION not in signals:
            raise _fail(origin, "signals", f"the {AMBIVALENT_NEGATION!r} signal must be defined")
        return signals

    def _single_token(self, text: str, where: str) -> str:
        """Normalise a word from the lexicon; it must stay exactly one token."""
        cached = self._word_cache.get(text)
        if cached is not None:
            return cached
        tokens = list(_raw_tokens(normalise_text(text)))
        if len(tokens) != 1:
            raise _fail(
                self._origin,
                where,
                f"{text!r} must normalise to one word, got {len(tokens)} ({tokens!r}); "
                "write several words as separate pattern elements",
            )
        self._word_cache[text] = tokens[0]
        return tokens[0]

    def _load_language(
        self, lang: str, table: dict[str, Any], pending: list[tuple[int, int, bool, str, str]]
    ) -> None:
        """Read one language section: word lists, cue phrases, idioms and rules."""
        origin = self._origin
        base = f"languages.{lang}"
        _check_keys(table, _LANGUAGE_KEYS, origin, base)
        lists = {key: _strings(table.get(key, []), origin, f"{base}.{key}") for key in _LIST_KEYS}
        self.uninflected_lemmas.update(lists["uninflected_lemmas"])
        for key, target in (
            ("negation_fillers", self._fillers),
            ("clause_breaks", self._breaks),
            ("number_words", self._number_words),
            ("many_words", self._many_words),
            ("dose_units", self._units),
            ("fuzzy_exclude", self._fuzzy_exclude),
            ("ignorable_words", self._ignorable),
        ):
            for i, word in enumerate(lists[key]):
                target.add(self._single_token(word, f"{base}.{key}[{i}]"))
        for i, word in enumerate(lists["fuzzy"]):
            norm = self._single_token(word, f"{base}.fuzzy[{i}]")
            if len(norm) < self._fuzzy_min:
                raise _fail(
                    origin,
                    f"{base}.fuzzy[{i}]",
                    f"{word!r} is shorter than fuzzy_min_length ({self._fuzzy_min}); short "
                    "words with one typo match too many ordinary words",
                )
            self._fuzzy_words.add(norm)
        for key, kind in (
            ("negation_cues", _NEGATION),
            ("uncertainty_cues", _UNCERTAIN),
            ("ambivalence_cues", _AMBIVALENCE),
            ("emoji_context", _CONTEXT),
            ("idioms", _IDIOM),
        ):
            for i, text in enumerate(lists[key]):
                pending.append((kind, -1, kind == _IDIOM, text, f"{base}.{key}[{i}]"))
        rules = table.get("rules", [])
        if not isinstance(rules, list):
            raise _fail(origin, f"{base}.rules", "expected an array of tables ([[...rules]])")
        for r, raw_rule in enumerate(rules):
            where = f"{base}.rules[{r}]"
            rule = _table(raw_rule, origin, where)
            _check_keys(rule, _RULE_KEYS, origin, where)
            signal = rule.get("signal")
            if not isinstance(signal, str) or signal not in self._signals:
                raise _fail(
                    origin,
                    f"{where}.signal",
                    f"unknown signal {signal!r}; known: {list(self._signals)}",
                )
            sig = self._signals[signal]
            level = rule.get("level", sig.level)
            if level not in ("concern", "high"):
                raise _fail(
                    origin, f"{where}.level", f"expected 'concern' or 'high', got {level!r}"
                )
            needs_context = rule.get("requires_context", False)
            if not isinstance(needs_context, bool):
                raise _fail(origin, f"{where}.requires_context", "expected true or false")
            commas = rule.get("across_commas", False)
            if not isinstance(commas, bool):
                raise _fail(origin, f"{where}.across_commas", "expected true or false")
            patterns = _strings(rule.get("patterns"), origin, f"{where}.patterns")
            if not patterns:
                raise _fail(origin, f"{where}.patterns", "a rule needs at least one pattern")
            self._rules.append(_Rule(signal, level, sig.negatable, needs_context))
            for p, text in enumerate(patterns):
                pending.append(
                    (_RISK, len(self._rules) - 1, commas, text, f"{where}.patterns[{p}]")
                )

    def _add_pattern(self, kind: int, rule: int, commas: bool, text: str, where: str) -> None:
        """Expand and compile one pattern string of the mini-language (docs/risk-language.md)."""
        origin = self._origin
        for expanded in _expand_groups(text, origin, where):
            elements = expanded.split()
            slots: list[_Slot] = []
            for e, element in enumerate(elements):
                key = (element, e == len(elements) - 1)
                slot = self._slot_cache.get(key)
                if slot is None:
                    slot = self._slot_cache[key] = self._compile_element(*key, where)
                slots.append(slot)
            if not slots:
                raise _fail(origin, where, f"{text!r} has an empty alternative that leaves nothing")
            if slots[0].op != _LIT:
                raise _fail(origin, where, f"{text!r} must start with a word, number or emoji")
            if slots[-1].op == _GAP:
                raise _fail(origin, where, f"{text!r} must not end with a gap")
            if kind == _NEGATION and len(slots) == 1 and not slots[0].prefixes:
                self._single_negations.update(slots[0].literals)
            signature = (kind, rule, tuple(slots))
            if signature in self._seen_patterns:
                continue  # different spellings in the file can compile to the same pattern
            self._seen_patterns.add(signature)
            self._patterns.append(_Pattern(kind, tuple(slots), rule, commas))

    def _compile_element(self, element: str, last: bool, where: str) -> _Slot:
        """Compile one element: word|word*|emoji alternatives, ~N, #num, #many or $."""
        origin = self._origin
        if element.startswith("~"):
            if not re.fullmatch(r"~[1-9]", element) or int(element[1:]) > _MAX_GAP:
                raise _fail(origin, where, f"gap {element!r} must be ~1 to ~{_MAX_GAP}")
            return _Slot(_GAP, gap=int(element[1:]))
        if element == "$":
            if not last:
                raise _fail(origin, where, "'$' (end of clause) may only end a pattern")
            return _Slot(_END)
        if element in ("#num", "#many"):
            many = element == "#many"
            words = self._many_words if many else self._number_words | self._many_words
            return _Slot(_LIT, literals=frozenset(words), number=True, many=many)
        literals: set[str] = set()
        prefixes: list[str] = []
        for alt in element.split("|"):
            if not alt:
                raise _fail(origin, where, f"empty alternative in {element!r}; use (word|) instead")
            if alt.endswith("*") and len(alt) > 1:
                stem = self._single_token(alt[:-1], where)
                if len(stem) < _MIN_PREFIX:
                    raise _fail(origin, where, f"prefix {alt!r} is too short (min {_MIN_PREFIX})")
                prefixes.append(stem)
            else:
                word = self._single_token(alt, where)
                if word in self._ignorable:
                    raise _fail(
                        origin,
                        where,
                        f"{alt!r} is an ignorable word: it is dropped from every text, so a "
                        "pattern can never see it; leave it out",
                    )
                literals.add(word)
        return _Slot(_LIT, literals=frozenset(literals), prefixes=tuple(prefixes))

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every literal word the patterns use (what lemma and compound readings aim at)."""
        return self._vocabulary

    def _collect_vocabulary(self) -> frozenset[str]:
        """Every literal word the patterns use, plus fuzzy key words."""
        vocab: set[str] = set(self._fuzzy_words)
        for pattern in self._patterns:
            for slot in pattern.slots:
                if not slot.number:
                    vocab.update(slot.literals)
        return frozenset(vocab)

    def _index_patterns(self) -> None:
        """Compile all patterns into two tries (clause-bound, and allowed across commas)."""
        self._tries = (_Node(), _Node())
        for pid, pattern in enumerate(self._patterns):
            node = self._tries[pattern.across_commas]
            for slot in pattern.slots:
                node = node.child(slot)
            node.done.append(pid)

    def _index_fuzzy(self) -> None:
        """Symmetric-deletion index (as in SymSpell) for one-typo look-ups in O(word length)."""
        self._fuzzy_index: dict[str, set[str]] = {}
        for word in self._fuzzy_words:
            for variant in _deletions(word) | {word}:
                self._fuzzy_index.setdefault(variant, set()).add(word)
        self._fuzzy_max = max((len(w) for w in self._fuzzy_words), default=0)
        # One masked letter ("k*ll", "s*icide"): index every vocabulary word with one
        # position masked.
        self._masked_index: dict[str, set[str]] = {}
        for word in self._vocabulary:
            if len(word) >= 3 and word.isalpha():
                for i in range(len(word)):
                    self._masked_index.setdefault(word[:i] + "*" + word[i + 1 :], set()).add(word)

    # -- per-text work -------------------------------------------------------

    def _word_forms(self, word: str) -> tuple[str, ...]:
        """All readings of a word: as written, leetspeak decoded, one typo or mask resolved."""
        cached = self._form_cache.get(word)
        if cached is not None:
            return cached
        forms = [word]
        if not word.isalpha() and any(c.isdigit() for c in word):
            for table in (_LEET_DIGITS_I, _LEET_DIGITS_L):
                decoded = _REPEATED_LETTER.sub(r"\1", word.translate(table))
                if decoded not in forms:
                    forms.append(decoded)
        extra: list[str] = []
        for form in forms:
            if form in self._vocabulary:
                continue
            if "*" in form:
                masked = _REPEATED_STAR.sub("*", form)
                if masked.count("*") == 1 and len(masked) <= 40:
                    extra.extend(sorted(self._masked_index.get(masked, ())))
            elif (
                form.isalpha()
                and self._fuzzy_min - 1 <= len(form) <= self._fuzzy_max + 1
                and form not in self._fuzzy_exclude
            ):
                extra.extend(self._fuzzy_candidates(form))
        for form in extra:
            if form not in forms:
                forms.append(form)
        for form in list(forms):
            for lemma in self._lemmas.get(form, ()):
                if lemma not in forms:
                    forms.append(lemma)
        if not any(form in self._vocabulary for form in forms):
            for head in self._compound_heads(word):
                if head not in forms:
                    forms.append(head)
        result = tuple(forms)
        if len(self._form_cache) >= _FORM_CACHE_LIMIT:
            self._form_cache.clear()
        self._form_cache[word] = result
        return result

    def _compound_heads(self, word: str) -> tuple[str, ...]:
        """The longest tail of a compound that is a lexicon word (or inflects one)."""
        if len(word) < _COMPOUND_MIN_WORD or not word.isalpha():
            return ()
        for i in range(_COMPOUND_MIN_MODIFIER, len(word) - _COMPOUND_MIN_HEAD + 1):
            tail = word[i:]
            if tail in self._vocabulary:
                return (tail,)
            lemmas = self._lemmas.get(tail)
            if lemmas:
                return lemmas
        return ()

    def _fuzzy_candidates(self, form: str) -> list[str]:
        """Fuzzy key words within one edit of ``form`` with the same first letter."""
        found: set[str] = set()
        for variant in _deletions(form) | {form}:
            found.update(self._fuzzy_index.get(variant, ()))
        # Misspellings rarely change the first letter (Pollock & Zamora 1984), and
        # requiring it removes most accidental matches with real words.
        return sorted(w for w in found if w[0] == form[0] and _within_one_edit(form, w))

    def tokenise(self, text: str) -> _Tokens:
        """Normalise and tokenise a text (kinds and readings per token)."""
        kinds: list[int] = []
        forms: list[tuple[str, ...]] = []

        def boundary(kind: int) -> None:
            if not kinds:
                return
            if kinds[-1] >= _SOFT:
                kinds[-1] = max(kinds[-1], kind)
            else:
                kinds.append(kind)
                forms.append(("",))

        for kind, value in _classified_tokens(normalise_text(text), self._units):
            if kind >= _SOFT:
                boundary(kind)
            elif kind == _WORD:
                if value in self._ignorable:
                    continue  # intensifiers: "wants to just end it" reads "wants to end it"
                kinds.append(_WORD)
                forms.append(self._word_forms(value))
            else:
                kinds.append(kind)
                forms.append((value,))
        return _Tokens(kinds, forms)

    def _walk(
        self,
        node: _Node,
        pos: int,
        start: int,
        tokens: _Tokens,
        across_commas: bool,
        gaps: list[int],
        found: dict[int, _Match],
    ) -> None:
        """Follow every branch of the trie that fits the tokens from pos; record matches."""
        for pid in node.done:
            if pid not in found:
                found[pid] = _Match(pid, start, pos, tuple(gaps))
        kinds = tokens.kinds
        n = len(kinds)
        at_boundary = pos >= n or kinds[pos] >= _SOFT
        if at_boundary:
            for child in node.end:
                self._walk(child, pos, start, tokens, across_commas, gaps, found)
        else:
            for child in node.next_nodes(kinds[pos], tokens.forms[pos], self._many_threshold):
                self._walk(child, pos + 1, start, tokens, across_commas, gaps, found)
        for width, child in node.gaps:
            p = pos
            mark = len(gaps)
            for _ in range(width + 1):
                self._walk(child, p, start, tokens, across_commas, gaps, found)
                if p >= n or kinds[p] == _HARD or (kinds[p] == _SOFT and not across_commas):
                    break
                gaps.append(p)
                p += 1
            del gaps[mark:]

    def _find_matches(self, tokens: _Tokens) -> list[_Match]:
        """Every pattern match: one trie walk per starting token, dispatched by word."""
        matches: list[_Match] = []
        for i, kind in enumerate(tokens.kinds):
            if kind >= _SOFT:
                continue
            for across_commas, root in enumerate(self._tries):
                found: dict[int, _Match] = {}
                for child in root.next_nodes(kind, tokens.forms[i], self._many_threshold):
                    self._walk(child, i + 1, i, tokens, bool(across_commas), [], found)
                matches.extend(found.values())
        return matches

    def assess(self, text: str) -> RiskAssessment:
        """Assess one text; never raises for any string."""
        if not text or text.isspace():
            return NO_RISK
        tokens = self.tokenise(text)
        n = len(tokens.kinds)
        if n == 0:
            return NO_RISK
        by_kind: dict[int, list[_Match]] = {k: [] for k in range(6)}
        for match in self._find_matches(tokens):
            by_kind[self._patterns[match.pattern].kind].append(match)
        risks = by_kind[_RISK]
        if not risks:
            return NO_RISK
        risks = self._drop_idioms(risks, by_kind[_IDIOM], n)
        risks = self._drop_overridden(risks, n)
        context = bool(by_kind[_CONTEXT])
        scope = _Scope(tokens, self._breaks, by_kind, self._single_negations)

        found: dict[str, str] = {}
        for match in risks:
            rule = self._rules[self._patterns[match.pattern].rule]
            if rule.requires_context and not context:
                continue
            signal, level = rule.signal, rule.level
            if rule.negatable and scope.negated(match, self._fillers, self._max_fillers):
                if not scope.ambivalent(match):
                    continue
                signal = AMBIVALENT_NEGATION
                level = self._signals[signal].level
            if _LEVEL_RANK[level] > _LEVEL_RANK[found.get(signal, "none")]:
                found[signal] = level
        if not found:
            return NO_RISK
        rank = max(_LEVEL_RANK[level] for level in found.values())
        escalating = sum(1 for name in found if self._signals[name].escalates)
        if escalating >= self._escalation:
            rank = _LEVEL_RANK["high"]
        signals = tuple(sorted(found, key=self._signal_order.__getitem__))
        return RiskAssessment(at_risk=True, level=LEVELS[rank], signals=signals)

    def _drop_idioms(self, risks: list[_Match], idioms: list[_Match], n: int) -> list[_Match]:
        """Remove risk phrases that an idiom exception overlaps (and only those)."""
        if not idioms:
            return risks
        covered = bytearray(n + 1)
        for idiom in idioms:
            covered[idiom.start : idiom.end] = b"\x01" * (idiom.end - idiom.start)
        return [m for m in risks if not any(covered[m.start : m.end])]

    def _drop_overridden(self, risks: list[_Match], n: int) -> list[_Match]:
        """Drop matches inside a wider match whose signal overrides theirs (third person)."""
        reach: dict[str, list[int]] = {}
        for match in risks:
            signal = self._rules[self._patterns[match.pattern].rule].signal
            if self._signals[signal].overrides:
                furthest = reach.setdefault(signal, [0] * (n + 1))
                furthest[match.start] = max(furthest[match.start], match.end)
        if not reach:
            return risks
        for furthest in reach.values():
            for p in range(1, n + 1):
                if furthest[p - 1] > furthest[p]:
                    furthest[p] = furthest[p - 1]
        kept: list[_Match] = []
        for match in risks:
            signal = self._rules[self._patterns[match.pattern].rule].signal
            hidden = any(
                signal in self._signals[other].overrides and furthest[match.start] >= match.end
                for other, furthest in reach.items()
                if other != signal
            )
            if not hidden:
                kept.append(match)
        return kept


class _Scope:
    """Clause and sentence bookkeeping for negation, hedges and "..., but" ambivalence."""

    def __init__(
        self,
        tokens: _Tokens,
        breaks: set[str],
        by_kind: Mapping[int, list[_Match]],
        single_negations: set[str],
    ) -> None:
        """Number clauses and sentences and index the cue matches."""
        self.tokens = tokens
        self.single_negations = single_negations
        clause = sentence = 0
        self.clause: list[int] = []
        self.sentence: list[int] = []
        self.breaks: list[int] = []
        for p, kind in enumerate(tokens.kinds):
            if kind >= _SOFT:
                clause += 1
                if kind == _HARD:
                    sentence += 1
            elif kind == _WORD and tokens.forms[p][0] in breaks:
                clause += 1
                self.breaks.append(p)
            self.clause.append(clause)
            self.sentence.append(sentence)
        self.negation_start_by_end: dict[int, int] = {}
        for m in by_kind[_NEGATION]:
            self.negation_start_by_end[m.end] = max(
                self.negation_start_by_end.get(m.end, -1), m.start
            )
        # A hedge in the sentence, before the denial or after it ("I wouldn't do it,
        # probably"), leaves the risk standing: a false alarm beats a miss. After a
        # "but" it belongs to the next thought (that is ambivalence, handled apart).
        self.first_hedge: dict[int, int] = {}  # sentence -> position of its first hedge
        for m in by_kind[_UNCERTAIN]:
            sentence = self.sentence[m.start]
            self.first_hedge[sentence] = min(self.first_hedge.get(sentence, m.start), m.start)
        self.ambivalence_starts = sorted(m.start for m in by_kind[_AMBIVALENCE])

    def _hedged(self, cue_start: int) -> bool:
        """Is there a hedge ("not sure", "probably") in the cue's sentence, not after a "but"?"""
        first = self.first_hedge.get(self.sentence[cue_start])
        if first is None:
            return False
        next_break = bisect_left(self.breaks, cue_start)
        return next_break >= len(self.breaks) or first < self.breaks[next_break]

    def negated(self, match: _Match, fillers: set[str], max_fillers: int) -> bool:
        """Does a negation cue govern this match directly (NegEx-style, same clause)?"""
        forms = self.tokens.forms
        kinds = self.tokens.kinds
        for p in match.gaps:  # "mich nicht umbringen": the cue sits inside the phrase
            if kinds[p] == _WORD and forms[p][0] in self.single_negations:
                return not self._hedged(p)
        j = match.start
        steps = 0
        while True:
            cue_start = self.negation_start_by_end.get(j)
            if cue_start is not None:
                return not self._hedged(cue_start)
            if j == 0 or steps >= max_fillers:
                return False
            p = j - 1
            if kinds[p] != _WORD or forms[p][0] not in fillers:
                return False
            j = p
            steps += 1

    def ambivalent(self, match: _Match) -> bool:
        """Negated, then "but ..." with ideation words in the same sentence."""
        i = bisect_left(self.breaks, match.end)
        if i >= len(self.breaks):
            return False
        contrast = self.breaks[i]
        if self.sentence[contrast] != self.sentence[match.start]:
            return False
        j = bisect_right(self.ambivalence_starts, contrast)
        return (
            j < len(self.ambivalence_starts)
            and self.sentence[self.ambivalence_starts[j]] == self.sentence[match.start]
        )


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _raw_tokens(text: str) -> Iterator[str]:
    """Content tokens of an already normalised text (used to normalise lexicon words)."""
    for kind, value in _classified_tokens(text, frozenset()):
        if kind < _SOFT:
            yield value


def _classified_tokens(text: str, units: set[str] | frozenset[str]) -> Iterator[tuple[int, str]]:
    """Yield (kind, value) for a normalised text, joining spelled-out words like s.u.i.c.i.d.e."""
    raw = [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
    n = len(raw)
    i = 0
    while i < n:
        value, _, end = raw[i]
        if len(value) == 1 and value.isalpha():
            letters = [value]
            last = i
            k = i + 1
            separators = 0
            while k < n and separators <= 3:
                nxt, nxt_start, nxt_end = raw[k]
                if nxt in _SPELLING_SEPARATORS:
                    separators += 1
                    k += 1
                    continue
                if (
                    len(nxt) == 1
                    and nxt.isalpha()
                    and _SPELLING_GAP.fullmatch(text, end, nxt_start)
                ):
                    letters.append(nxt)
                    end = nxt_end
                    last = k
                    separators = 0
                    k += 1
                    continue
                break
            if len(letters) >= 3:
                yield _WORD, _REPEATED_LETTER.sub(r"\1", "".join(letters))
                i = last + 1
                continue
        i += 1
        first = value[0]
        if len(value) == 1 and not first.isalnum():
            if first in _HARD_PUNCT:
                yield _HARD, first
            elif first in _SOFT_PUNCT:
                yield _SOFT, first
            elif unicodedata.category(first) == "So":
                yield _SYM, first
            continue
        if first.isdigit() and _NUMBER_RE.fullmatch(value):
            yield _NUM, value
            continue
        split = _NUMBER_UNIT_RE.fullmatch(value)
        if split and split.group(2) in units:
            yield _NUM, split.group(1)
            yield _WORD, split.group(2)
            continue
        yield _WORD, value


def _number_value(text: str) -> int:
    """Integer value of a digit token ("1.000" and "1,000" read as thousands); huge -> big."""
    if _THOUSANDS_RE.fullmatch(text):
        text = text.replace(".", "").replace(",", "")
    else:
        text = re.split(r"[.,]", text, maxsplit=1)[0]
    if len(text) > 9 or not text.isdigit():
        return 10**9
    return int(text)


def _deletions(word: str) -> set[str]:
    """Every string made by deleting one character of ``word``."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _within_one_edit(a: str, b: str) -> bool:
    """Optimal-string-alignment distance of at most one (insert, delete, substitute, swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def load_lemmas(path: Path) -> dict[str, tuple[str, ...]]:
    """Read a lemma table (form TAB word [TAB word ...]); raise LexiconError if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(f"{path}: cannot read the lemma table ({exc})") from exc
    table: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not all(fields):
            raise LexiconError(f"{path.name}: line {number}: expected form<TAB>word")
        table[fields[0]] = tuple(fields[1:])
    return table


def load_lexicon(path: Path = DEFAULT_LEXICON_PATH, lemmas: Path | None = None) -> RiskLexicon:
    """Read, validate and compile a lexicon file; raise LexiconError with a clear message.

    The lemma table is ``lemmas`` or, if not given, the ``lemmas.tsv`` next to the
    lexicon when there is one.
    """
    origin = path.name
    lemma_path = lemmas if lemmas is not None else path.with_name(LEMMAS_FILENAME)
    lemma_table = load_lemmas(lemma_path) if lemmas is not None or lemma_path.exists() else {}
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read the risk lexicon ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LexiconError(f"{origin}: not UTF-8 ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{origin}: invalid TOML: {exc}") from exc
    return RiskLexicon(data, origin, lemma_table)


@lru_cache(maxsize=1)
def default_lexicon() -> RiskLexicon:
    """The shipped lexicon, loaded and compiled once per process."""
    return load_lexicon(DEFAULT_LEXICON_PATH)


def assess_risk(text: str) -> RiskAssessment:
    """Check one client text for self-harm/suicide risk language (en, es, de at once)."""
    return default_lexicon().assess(text)

"""Risk-language detector and crisis resources: labelled corpus, unit cases, odd input."""

from __future__ import annotations

import copy
import csv
import logging
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.crisis import (
    CrisisDataError,
    is_review_overdue,
    load_crisis_resources,
    parse_crisis_resources,
)
from bot.core.risk import (
    DEFAULT_LEXICON_PATH,
    LEMMAS_FILENAME,
    LexiconError,
    RiskAssessment,
    RiskLexicon,
    assess_risk,
    default_lexicon,
    load_lemmas,
    load_lexicon,
    normalise_text,
)

CORPUS = Path(__file__).parent.parent / "data" / "risk_corpus.tsv"
HELDOUT = Path(__file__).parent.parent / "data" / "risk_heldout"
CATEGORIES = {
    "self_harm",
    "method_research",
    "goodbye_preparation",
    "burden",
    "explicit",
    "method_plan",
    "pills_dose",
    "emoji",
    "third_person",
    "typo",
    "negation",
    "idiom",
    "everyday_therapy_comment",
    "hostile_odd",
    "hopelessness",
}
MAX_FALSE_ALARM_RATE = 0.10


@dataclass(frozen=True)
class Line:
    """One labelled corpus line."""

    label: str
    lang: str
    category: str
    text: str


def read_tsv(path: Path) -> list[Line]:
    """One labelled file (invented phrases)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [Line(r["label"], r["lang"], r["category"], r["text"]) for r in reader]


def read_corpus() -> list[Line]:
    """The tuning corpus: what the lexicon was written from (a regression test)."""
    return read_tsv(CORPUS)


def corpus_report(lines: list[Line]) -> tuple[float, float, str]:
    """Recall on risk lines, false-alarm rate on safe lines, and a printable breakdown."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # risk, hit, safe, alarm
    for line in lines:
        hit = assess_risk(line.text).at_risk
        for key in ("all", f"lang={line.lang}", f"category={line.category}"):
            counts = groups[key]
            if line.label == "risk":
                counts[0] += 1
                counts[1] += hit
            else:
                counts[2] += 1
                counts[3] += hit
    rows = ["risk corpus: recall on risk lines, false alarms on safe lines"]
    for key in sorted(groups, key=lambda k: (k != "all", k)):
        risk, hits, safe, alarms = groups[key]
        recall = f"{hits}/{risk} = {hits / risk:.1%}" if risk else "-"
        false = f"{alarms}/{safe} = {alarms / safe:.1%}" if safe else "-"
        rows.append(f"  {key:<36} recall {recall:<18} false alarms {false}")
    total = groups["all"]
    return total[1] / total[0], total[3] / total[2], "\n".join(rows)


# ---------------------------------------------------------------------------
# The labelled corpus
# ---------------------------------------------------------------------------


def test_corpus_is_well_formed() -> None:
    """At least 200 lines, both labels, three languages, every category, no duplicates."""
    lines = read_corpus()
    assert len(lines) >= 200
    assert {line.label for line in lines} == {"risk", "safe"}
    assert {line.lang for line in lines} == {"en", "es", "de"}
    assert {line.category for line in lines} == CATEGORIES
    risk = sum(line.label == "risk" for line in lines)
    assert 0.4 <= risk / len(lines) <= 0.6, "roughly half risk, half safe"
    assert sum(line.lang == "de" for line in lines) >= 30
    assert all(line.text.strip() for line in lines)
    assert len({line.text for line in lines}) == len(lines)
    negation_labels = {line.label for line in lines if line.category == "negation"}
    assert negation_labels == {"risk", "safe"}, "negations that are safe and that still carry risk"
    everyday = {line.label for line in lines if line.category == "everyday_therapy_comment"}
    assert everyday == {"safe"}


def test_corpus_recall_is_complete_and_false_alarms_are_rare() -> None:
    """Every risk line is caught; false alarms stay at or under 10 % of safe lines."""
    lines = read_corpus()
    recall, false_alarm_rate, report = corpus_report(lines)
    print("\n" + report)  # shown with -s, and under "PASSES" with -rA
    missed = [
        line.text for line in lines if line.label == "risk" and not assess_risk(line.text).at_risk
    ]
    assert not missed, f"missed risk lines: {missed}"
    assert recall == 1.0
    assert false_alarm_rate <= MAX_FALSE_ALARM_RATE, report


def test_everyday_alliance_feedback_is_not_flagged() -> None:
    """Ordinary check-in comments are what the bot collects: no alarm on any of them."""
    flagged = [
        line.text
        for line in read_corpus()
        if line.category == "everyday_therapy_comment"
        and assess_risk(line.text).at_risk
        # Known, accepted false alarms by design: medication names alone (Crisis Text
        # Line finding), a farewell at the last session, and any mention of suicide
        # itself (a client reporting a screening question is still worth a look).
        and assess_risk(line.text).signals != ("method_medication",)
        and not any(w in line.text for w in ("goodbye", "suicide", "Suizid"))
    ]
    assert flagged == []


# ---------------------------------------------------------------------------
# The held-out blocks (never used to change the detector; the figures in the docs)
# ---------------------------------------------------------------------------

# What docs/risk-language.md claims for the held-out block written before any change
# (2026-12-03-b). Recall may not fall below these, nor false alarms on everyday and
# idiomatic text rise above them: a change that does either must update the docs.
HELDOUT_BLOCK = "2026-12-03-b.tsv"
HELDOUT_RECALL_FLOOR = {"en": (39, 40), "es": (40, 40), "de": (39, 41)}
HELDOUT_EVERYDAY_FALSE_ALARM_CEILING = {"en": (2, 29), "es": (4, 28), "de": (2, 28)}


def heldout_blocks() -> dict[str, list[Line]]:
    """Every held-out block by file name, without lines also in the tuning corpus.

    A few common phrasings were written in both (the same words twice); those were tuned
    on, so they do not count as held-out (bench/risk_report.py leaves them out too).
    """
    tuning = {line.text for line in read_corpus()}
    return {
        path.name: [line for line in read_tsv(path) if line.text not in tuning]
        for path in sorted(HELDOUT.glob("*.tsv"))
    }


def test_heldout_blocks_are_well_formed_and_mostly_apart_from_the_tuning_corpus() -> None:
    """Both labels and all three languages in each block; at most 3 lines shared with tuning."""
    blocks = heldout_blocks()
    assert HELDOUT_BLOCK in blocks
    for name, lines in blocks.items():
        assert {line.label for line in lines} == {"risk", "safe"}, name
        assert {line.lang for line in lines} == {"en", "es", "de"}, name
        for lang in ("en", "es", "de"):
            assert sum(line.lang == lang and line.label == "risk" for line in lines) >= 40, name
        assert len(read_tsv(HELDOUT / name)) - len(lines) <= 3, f"{name} overlaps tuning"


def test_heldout_recall_and_false_alarms_hold_what_the_docs_claim() -> None:
    """Per language: recall at or above, everyday/idiom false alarms at or below the docs."""
    lines = heldout_blocks()[HELDOUT_BLOCK]
    for lang, (floor_hits, floor_total) in HELDOUT_RECALL_FLOOR.items():
        risk = [line for line in lines if line.lang == lang and line.label == "risk"]
        hits = sum(assess_risk(line.text).at_risk for line in risk)
        assert len(risk) == floor_total
        assert hits >= floor_hits, f"{lang}: held-out recall {hits}/{len(risk)} < docs"
    for lang, (ceiling, total) in HELDOUT_EVERYDAY_FALSE_ALARM_CEILING.items():
        safe = [
            line
            for line in lines
            if line.lang == lang and line.label == "safe" and line.category != "negation"
        ]
        alarms = sum(assess_risk(line.text).at_risk for line in safe)
        assert len(safe) == total
        assert alarms <= ceiling, f"{lang}: held-out false alarms {alarms}/{len(safe)} > docs"


# ---------------------------------------------------------------------------
# Lemmas and compounds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("ayer me estuve rajando las muñecas", "self_harm"),  # rajando -> rajar, muñecas
        ("ich habe mir die Beine aufgeschnitten", "self_harm"),  # Beine, aufgeschnitten
        ("das Unterarmritzen wird schlimmer", "self_harm"),  # compound: ...ritzen
        ("ich denke an Pulsaderschnitte", "self_harm"),  # compound modifier: pulsader*
        ("I keep slicing my forearms", "self_harm"),  # slicing, forearms
    ],
)
def test_inflections_and_compounds_reach_the_patterns(text: str, signal: str) -> None:
    """A pattern written with one form of a word matches its inflections and compounds."""
    assert signal in assess_risk(text).signals


def test_lemma_table_points_only_at_lexicon_words() -> None:
    """Every lemma-table target is a word the patterns use (the table is not stale)."""
    lexicon = default_lexicon()
    table = load_lemmas(DEFAULT_LEXICON_PATH.with_name(LEMMAS_FILENAME))
    assert len(table) > 1000
    stale = {word for words in table.values() for word in words} - lexicon.vocabulary
    assert not stale, f"run scripts/risk_lemmas.py: {sorted(stale)[:10]}"


def test_load_lemmas_reports_a_malformed_table(tmp_path: Path) -> None:
    """A broken lemma table fails loading with the file and line."""
    bad = tmp_path / "lemmas.tsv"
    bad.write_text("# comment\ncortando\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="lemmas.tsv: line 2"):
        load_lemmas(bad)


def test_without_a_lemma_table_only_written_forms_match(tmp_path: Path) -> None:
    """The lemma table is what lets an unwritten inflection ("rajando") match."""
    copy_ = tmp_path / "lexicon.toml"
    copy_.write_bytes(DEFAULT_LEXICON_PATH.read_bytes())
    text = "me estuve rajando las muñecas"
    assert "self_harm" not in load_lexicon(copy_).assess(text).signals
    assert "self_harm" in default_lexicon().assess(text).signals


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＫＩＬＬ ＭＹＳＥＬＦ", "kil myself"),  # NFKC full width, casefold, collapse
        ("Suicídio", "suicidio"),  # accents
        ("k\u200bill my\u200dself", "kil myself"),  # zero-width characters
        ("diiiiie", "die"),  # repeated letters
        ("don\u2019t", "dont"),  # typographic apostrophe inside a word
        ("$uicide", "suicide"),  # leet symbol
        ("su!c!de", "suicide"),
        ("ѕuісіdе", "suicide"),  # Cyrillic look-alikes
        ("self-harm", "self harm"),
        ("𝓈𝓊𝒾𝒸𝒾𝒹𝑒", "suicide"),  # mathematical script letters
        ("MÜDE", "mude"),
        ("a\x00b\x07c", "a b c"),  # control characters become spaces
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    """Normalisation folds the usual disguises onto plain words."""
    assert normalise_text(raw) == expected


@pytest.mark.parametrize(
    "text",
    [
        "k1ll myself",
        "5u1c1d3",
        "s.u.i.c.i.d.e",
        "s u i c i d e",
        "k*ll myself",
        "sucide",
        "suicde",
        "feeling suicdal",
        "kil myself",
        "kms",
        "unalive",
        "sewerslide",
        "selbstmort",
        "sucidarme",
        "m4t4rm3",
        "i want to diiiie",
    ],
)
def test_typos_leetspeak_and_obfuscation_are_caught(text: str) -> None:
    """Misspelt, spaced-out and leetspeak key words still count."""
    assert assess_risk(text).at_risk


@pytest.mark.parametrize("text", ["homeless people", "I am overdoing it", "my nose is blocked"])
def test_fuzzy_matching_leaves_neighbouring_words_alone(text: str) -> None:
    """Words one letter from a key word ("homeless"/"hopeless", "nose"/"noose") stay safe."""
    assert not assess_risk(text).at_risk


# ---------------------------------------------------------------------------
# Negation scope, hedges, idioms
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I'm not suicidal",
        "I would never hurt myself",
        "I'm not going to kill myself",
        "I don't want to die",
        "I have never had suicidal thoughts",
        "no thoughts of self harm",
        "No soy suicida",
        "Nunca me haría daño",
        "No me voy a suicidar",
        "Ich bin nicht suizidal",
        "Ich will mich nicht umbringen",
        "Ich würde mir nie etwas antun",
        "I don't have a plan",
    ],
)
def test_negations_that_deny_risk(text: str) -> None:
    """A negation that directly governs the phrase cancels it."""
    assert assess_risk(text) == RiskAssessment(at_risk=False, level="none", signals=())


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("I'm not suicidal but I have been thinking about pills", "method_medication"),
        ("I'm not sure I want to live", "passive_ideation"),
        ("I don't want to live like this anymore", "passive_ideation"),
        ("I don't want to wake up tomorrow", "passive_ideation"),
        ("I'm not sure I'm not suicidal", "explicit_intent"),  # hedge voids the negation
        ("I don't think I'm suicidal", "explicit_intent"),  # "think" is not a filler
        ("I have never felt so suicidal", "explicit_intent"),  # "so" is not a filler
        ("I can't stop thinking about killing myself", "explicit_intent"),
        ("I don't have a plan to kill myself but I think about it", "explicit_intent"),
        ("I would never kill myself but I think about it a lot", "ambivalent_negation"),
        ("I'm not suicidal, I just don't want to wake up", "passive_ideation"),
        ("No quiero vivir", "passive_ideation"),
        ("No estoy segura de querer seguir viviendo", "passive_ideation"),
        ("Ich will nicht mehr leben", "passive_ideation"),
    ],
)
def test_negations_that_still_carry_risk(text: str, signal: str) -> None:
    """Negation scope ends at the clause; negations inside the phrase are the risk."""
    result = assess_risk(text)
    assert result.at_risk
    assert signal in result.signals


@pytest.mark.parametrize(
    "text",
    [
        "I was dying of laughter",
        "this homework is killing me",
        "I could kill for a coffee",
        "me muero de risa",
        "Esta tarea me está matando",
        "Ich lach mich tot",
        "I cut myself some slack",
        "we ran 5 kms",
        "I won't be here next week, I'm on holiday",
        "Me voy a cortar el pelo",
        "I almost died of embarrassment",
    ],
)
def test_idioms_are_not_flagged(text: str) -> None:
    """Figurative uses of death words do not raise an alarm."""
    assert not assess_risk(text).at_risk


def test_an_idiom_does_not_hide_real_risk_elsewhere() -> None:
    """An idiom removes only the phrase it overlaps."""
    result = assess_risk("this homework is killing me and honestly I want to kill myself")
    assert result.level == "high"
    assert result.signals == ("explicit_intent",)
    assert assess_risk("me muero de risa, pero también quiero morirme").at_risk


# ---------------------------------------------------------------------------
# Emoji, third person, levels
# ---------------------------------------------------------------------------


def test_pill_emoji_alone_is_a_concern() -> None:
    """Crisis Text Line: the pill emoji predicted emergencies on its own."""
    assert assess_risk("💊") == RiskAssessment(True, "concern", ("emoji_method",))


@pytest.mark.parametrize("emoji", ["🔪", "🩸", "🪦", "⚰️"])
def test_method_emoji_need_context(emoji: str) -> None:
    """Knife, blood, headstone and coffin emoji count only with context words."""
    assert not assess_risk(f"cooking dinner {emoji}").at_risk
    assert assess_risk(f"tonight {emoji}").signals == ("emoji_method",)
    assert assess_risk(f"{emoji} I want to die").level == "high"


def test_third_person_is_a_concern_and_does_not_hide_first_person() -> None:
    """A friend at risk is flagged as concern; "she thinks I want to die" stays first person."""
    friend = assess_risk("my friend wants to kill herself")
    assert friend == RiskAssessment(True, "concern", ("third_person",))
    assert assess_risk("Mi amiga quiere suicidarse").signals == ("third_person",)
    assert assess_risk("Meine Freundin will sich umbringen").signals == ("third_person",)
    first_person = assess_risk("She thinks I want to die")
    assert first_person.level == "high"
    assert "explicit_intent" in first_person.signals
    assert "third_person" not in first_person.signals
    both = assess_risk("my sister is suicidal and so am I, I want to die")
    assert both.level == "high"
    assert {"third_person", "explicit_intent"} <= set(both.signals)


def test_two_kinds_of_signal_escalate_to_high() -> None:
    """A medication name alone is a concern; with a dose it is high."""
    assert assess_risk("ibuprofen").level == "concern"
    assert assess_risk("800 mg").level == "concern"
    assert assess_risk("800 mg ibuprofen").level == "high"
    assert assess_risk("I have a whole bottle of Tylenol") == RiskAssessment(
        True, "high", ("method_medication", "dose")
    )


def test_signals_are_rule_names_never_text() -> None:
    """Signals come from the lexicon's signal table, so no message text can leak."""
    known = set(tomllib.loads(DEFAULT_LEXICON_PATH.read_text(encoding="utf-8"))["signals"])
    for line in read_corpus():
        result = assess_risk(line.text)
        assert set(result.signals) <= known
        assert result.at_risk == (result.level != "none") == bool(result.signals)


def test_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The detector never logs (message text must never reach logs)."""
    with caplog.at_level(logging.DEBUG):
        assess_risk("I want to kill myself tonight with 40 pills 💊")
    assert caplog.records == []


# ---------------------------------------------------------------------------
# Huge and odd input
# ---------------------------------------------------------------------------

FILLER = "the session was fine and she listened to me "


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \n\t ",
        "\x00\x01\x02\x1b[31m",
        "\ud800\udfff broken surrogates",
        "مرحبا، كانت الجلسة جيدة \u202e\u2066 שלום",
        "a" + "\u0301" * 5000,
        "🙂" * 2000,
        "((((((((((",
        "~1 #num $ | * ( ) [ ]",
        "𝕜𝕚𝕝𝕝",
    ],
)
def test_odd_input_is_handled(text: str) -> None:
    """Control characters, surrogates, RTL, combining marks, pattern syntax: no exception."""
    assert isinstance(assess_risk(text), RiskAssessment)


@pytest.mark.parametrize(
    "text",
    [
        (FILLER * 2500)[:100_000],
        "a" * 100_000,
        "1" * 100_000,
        "k.i.l.l " * 12_500,
        "k" + "." * 99_999,
        "not " * 25_000,
        "want " * 20_000,
        "I'm not suicidal but " * 4_700,
        "💊🔪" * 50_000,
        "jump off " + "x " * 50_000,
    ],
)
def test_huge_input_completes(text: str) -> None:
    """100,000 characters of adversarial text run to completion (linear-time matcher)."""
    assert isinstance(assess_risk(text), RiskAssessment)


def test_risk_at_the_end_of_a_huge_text_is_found() -> None:
    """Nothing is truncated: a risk phrase after 100,000 characters still counts."""
    text = FILLER * 2300 + ". I want to kill myself"
    assert len(text) > 100_000
    assert assess_risk(text).signals == ("explicit_intent",)


FRAGMENTS = [
    "kill", "myself", "not", "never", "but", "suicide", "💊", "🔪", "me", "800", "mg",
    "pills", "no quiero", "vivir", "nicht", "umbringen", "mich", ",", ".", "*", "1", "$",
    "\u200b", "\u0301", "(", "|", "~", "#num",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3))).map(" ".join),
        st.lists(st.sampled_from(FRAGMENTS)).map("".join),
    )
)
def test_assess_risk_never_raises(text: str) -> None:
    """Property: any string gives a consistent assessment and never an exception."""
    result = assess_risk(text)
    assert result.level in ("none", "concern", "high")
    assert result.at_risk == (result.level != "none")


# ---------------------------------------------------------------------------
# Lexicon validation
# ---------------------------------------------------------------------------


def minimal_lexicon() -> dict[str, Any]:
    """A small valid lexicon to break in one place per test."""
    return {
        "schema_version": 1,
        "signals": {
            "explicit_intent": {"level": "high", "negatable": True},
            "third_person": {"level": "concern", "overrides": ["explicit_intent"]},
            "ambivalent_negation": {"level": "concern"},
        },
        "languages": {
            "en": {
                "negation_cues": ["not"],
                "ignorable_words": ["just"],
                "fuzzy": ["suicide"],
                "rules": [{"signal": "explicit_intent", "patterns": ["kill myself", "suicid*"]}],
            }
        },
    }


def test_minimal_lexicon_works() -> None:
    """The fixture itself is valid and detects."""
    lexicon = RiskLexicon(minimal_lexicon(), "test.toml")
    assert lexicon.assess("I will kill myself").signals == ("explicit_intent",)
    assert not lexicon.assess("I will not kill myself").at_risk
    assert lexicon.assess("sucide").at_risk
    assert lexicon.assess("I will just kill myself").at_risk  # intensifier dropped


def _break(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(minimal_lexicon())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


RULE = ("languages", "en", "rules", 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_break(("schema_version",), 2), "schema_version"),
        (_break(("colour",), "blue"), "unknown key(s) ['colour']"),
        (_break(("signals", "explicit_intent", "level"), "urgent"), "expected 'concern' or 'high'"),
        (_break(("signals", "third_person", "overrides"), ["nope"]), "unknown signal 'nope'"),
        (_break(("signals",), {"explicit_intent": {"level": "high"}}), "ambivalent_negation"),
        (_break((*RULE, "signal"), "explict_intent"), "unknown signal 'explict_intent'"),
        (_break((*RULE, "patterns"), []), "at least one pattern"),
        (_break((*RULE, "patterns"), ["(kill myself"]), "unclosed '('"),
        (_break((*RULE, "patterns"), ["kill) myself"]), "unbalanced ')'"),
        (_break((*RULE, "patterns"), ["(a (b|c))"]), "nested groups"),
        (_break((*RULE, "patterns"), ["~2 kill"]), "must start with a word"),
        (_break((*RULE, "patterns"), ["kill ~2"]), "must not end with a gap"),
        (_break((*RULE, "patterns"), ["kill ~9 me"]), "gap '~9'"),
        (_break((*RULE, "patterns"), ["kill $ me"]), "may only end a pattern"),
        (_break((*RULE, "patterns"), ["ki* me"]), "too short"),
        (_break((*RULE, "patterns"), ["kill||me"]), "empty alternative"),
        (_break((*RULE, "patterns"), ["(just|) kill me"]), "'just' is an ignorable word"),
        (_break((*RULE, "patterns"), [" ".join(["(a b|c d)"] * 10)]), "expands to 1024"),
        (_break(("languages", "en", "fuzzy"), ["kill"]), "shorter than fuzzy_min_length"),
        (_break(("languages", "en", "negation_fillers"), ["going to"]), "must normalise to one"),
        (_break(("languages", "en", "negation_cues"), "not"), "expected a list of strings"),
        (_break(("languages",), {}), "no language defined"),
        (_break(("max_negation_fillers",), 99), "expected an integer from 0 to 8"),
    ],
)
def test_lexicon_validation_errors_are_clear(data: dict[str, Any], message: str) -> None:
    """Each malformed lexicon fails with a message naming the file and the problem."""
    with pytest.raises(LexiconError, match="^test.toml: ") as error:
        RiskLexicon(data, "test.toml")
    assert message in str(error.value)


def test_load_lexicon_reports_bad_toml_and_missing_files(tmp_path: Path) -> None:
    """File-level problems name the file."""
    broken = tmp_path / "lexicon.toml"
    broken.write_text("schema_version = \n", encoding="utf-8")
    with pytest.raises(LexiconError, match="lexicon.toml: invalid TOML"):
        load_lexicon(broken)
    with pytest.raises(LexiconError, match="cannot read the risk lexicon"):
        load_lexicon(tmp_path / "missing.toml")


def test_shipped_lexicon_loads_once() -> None:
    """The default lexicon compiles and is cached."""
    assert default_lexicon() is default_lexicon()
    assert load_lexicon().assess("kill myself").at_risk


# ---------------------------------------------------------------------------
# Crisis resources
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "es", "de"])
def test_crisis_resources_load_per_locale(locale: str) -> None:
    """Each shipped file is valid, reviewed 2026-11-22, and lists an emergency number."""
    resources = load_crisis_resources(locale)
    assert resources.locale == locale
    assert not resources.is_fallback
    assert resources.reviewed == date(2026, 11, 22)
    assert resources.next_review > resources.reviewed
    assert any(r.kind == "emergency" for r in resources.resources)
    assert any(r.web == "https://findahelpline.com" for r in resources.resources)
    for resource in resources.resources:
        assert resource.phone or resource.sms or resource.web


def test_known_numbers_are_listed() -> None:
    """The long-standing services named in the product spec are present."""
    numbers = {
        locale: {r.phone for r in load_crisis_resources(locale).resources}
        for locale in ("en", "es", "de")
    }
    assert {"911", "112", "988", "116 123"} <= numbers["en"]
    assert {"112", "024"} <= numbers["es"]
    assert {"112", "0800 111 0 111", "0800 111 0 222"} <= numbers["de"]


@pytest.mark.parametrize(
    ("requested", "locale", "fallback"),
    [("es-MX", "es", False), ("de_AT", "de", False), ("EN", "en", False), ("pt-BR", "en", True),
     ("", "en", True), ("../../etc", "en", True)],
)  # fmt: skip
def test_crisis_locale_fallback(requested: str, locale: str, fallback: bool) -> None:
    """Region variants use their language; unknown or odd locales fall back to English."""
    resources = load_crisis_resources(requested)
    assert resources.locale == locale
    assert resources.is_fallback is fallback


def test_review_overdue_only_after_the_next_review_date() -> None:
    """Due on the date itself, overdue from the day after."""
    resources = load_crisis_resources("en")
    due = resources.next_review
    assert not is_review_overdue(resources, resources.reviewed)
    assert not is_review_overdue(resources, due)
    assert is_review_overdue(resources, date.fromordinal(due.toordinal() + 1))


VALID_CRISIS = """
locale = "xx"
reviewed = "2026-11-22"
next_review = "2027-05-22"

[[resources]]
name = "Emergency"
kind = "emergency"
region = "Here"
phone = "112"
hours = "24/7"
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("", ""), None),
        (('locale = "xx"', 'locale = "yy"'), "must equal its folder name"),
        (('next_review = "2027-05-22"', 'next_review = "2026-01-01"'), "must be after"),
        (('reviewed = "2026-11-22"', 'reviewed = "22/11/2026"'), "expected a date"),
        (('kind = "emergency"', 'kind = "helpline"'), "at least one emergency number"),
        (('phone = "112"', 'web = "http://example.org"'), "https://"),
        (('phone = "112"', 'phone = "call us"'), "does not look like a number"),
        (('phone = "112"', 'sms_keyword = "HOME"'), "a keyword needs an sms number"),
        (('phone = "112"', 'fax = "112"'), "unknown key(s) ['fax']"),
        (('phone = "112"', ""), "at least one of phone, sms or web"),
        (('name = "Emergency"', 'name = ""'), "name: expected a non-empty string"),
    ],
)
def test_crisis_file_validation(
    tmp_path: Path, change: tuple[str, str], message: str | None
) -> None:
    """Malformed crisis files fail with the folder/file and field in the message."""
    folder = tmp_path / "xx"
    folder.mkdir()
    path = folder / "crisis.toml"
    path.write_text(VALID_CRISIS.replace(*change), encoding="utf-8")
    if message is None:
        assert parse_crisis_resources(path, "xx").resources[0].phone == "112"
        assert load_crisis_resources("xx", base_dir=tmp_path).locale == "xx"
        return
    with pytest.raises(CrisisDataError, match="^xx/crisis.toml: ") as error:
        parse_crisis_resources(path, "xx")
    assert message in str(error.value)

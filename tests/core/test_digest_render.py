"""The digest as Telegram reads it: valid HTML within limits, ordered, escaped, in two languages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scenarios import build_history, by_name, c, caseload, steady

from bot.core.digest import (
    LINE_GROUPS,
    Digest,
    Group,
    compose_digest,
    detail_entries,
    excerpt,
    render_alert,
    render_detail,
    render_digest,
    split_html_messages,
)
from bot.core.instrument import get_instrument
from bot.core.openers import TOPICS, choose_opener
from bot.core.strain import Severity, assess_strain
from bot.texts import Texts

TZ = ZoneInfo("Europe/Berlin")
LIMIT = 4096

# --- a small, strict reader of Telegram's HTML -----------------------------------

ALLOWED = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "tg-spoiler": set(),
    "span": {"class"},
    "a": {"href"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
    "tg-emoji": {"emoji-id"},
}
TOKEN = re.compile(
    r"<(/?)([a-z-]+)((?:\s+[a-z-]+(?:=\"[^\"<>]*\")?)*)\s*>"
    r"|&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);"
    r"|[^<>&]+"
)
ATTRIBUTE = re.compile(r"([a-z-]+)(?:=\"[^\"]*\")?")


def telegram_text(message: str) -> str:
    """The text Telegram shows, or AssertionError if it would reject the markup."""
    stack: list[str] = []
    shown: list[str] = []
    position = 0
    while position < len(message):
        match = TOKEN.match(message, position)
        assert match, f"not Telegram HTML at {position}: {message[position : position + 40]!r}"
        token = match.group(0)
        position = match.end()
        if match.group(2):
            closing, name, attributes = match.group(1), match.group(2), match.group(3)
            assert name in ALLOWED, f"tag <{name}> is not one Telegram knows"
            if closing:
                assert stack and stack[-1] == name, f"</{name}> does not close {stack}"
                stack.pop()
            else:
                for attribute in ATTRIBUTE.findall(attributes):
                    assert attribute in ALLOWED[name], f"<{name} {attribute}> not allowed"
                stack.append(name)
        else:
            shown.append(html.unescape(token))
    assert not stack, f"unclosed tags {stack}"
    return "".join(shown)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def assert_sendable(messages: list[str]) -> None:
    assert messages
    for message in messages:
        text = telegram_text(message)
        assert 0 < utf16(text) <= LIMIT


# --- fixtures --------------------------------------------------------------------


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts()


@pytest.fixture(scope="module")
def digest() -> Digest:
    histories, now = caseload()
    return compose_digest(histories, get_instrument(), now)


def render(texts: Texts, locale: str, digest: Digest, name: str = "Dr. Ruiz") -> list[str]:
    return render_digest(
        texts, locale, digest, name, digest.now - timedelta(days=7), digest.now, TZ
    )


# --- tests -------------------------------------------------------------------------


def details(texts: Texts, locale: str, digest: Digest) -> dict[str, str]:
    """Each conversation-level client's detail as displayed, by alias."""
    start = digest.now - timedelta(days=7)
    found = {}
    for entry in detail_entries(digest):
        messages = render_detail(texts, locale, entry, start, digest.now, TZ)
        assert_sendable(messages)
        found[entry.history.alias] = "\n".join(telegram_text(m) for m in messages)
    return found


def detail_of(texts: Texts, locale: str, digest: Digest, alias: str) -> str:
    entry = next(e for e in digest.entries if e.history.alias == alias)
    start = digest.now - timedelta(days=7)
    messages = render_detail(texts, locale, entry, start, digest.now, TZ)
    assert_sendable(messages)
    return "\n".join(telegram_text(m) for m in messages)


@pytest.mark.parametrize("locale", ["en", "es", "de"])
def test_whole_caseload_is_one_triage_message_naming_everyone(
    texts: Texts, digest: Digest, locale: str
) -> None:
    messages = render(texts, locale, digest)
    assert_sendable(messages)
    assert len(messages) == 1  # forty-one clients fit one message now
    shown = telegram_text(messages[0])
    for entry in digest.entries:
        assert entry.history.alias in shown
    assert set(details(texts, locale, digest)) == {
        e.history.alias for e in digest.group("conversation")
    }


def test_templates_have_the_same_keys_in_every_locale(texts: Texts) -> None:
    def ours(locale: str) -> set[str]:
        return {k for k in texts.keys(locale) if k.split(".")[0] in ("digest", "conversation")}

    wanted = {f"conversation.{t}_{n}" for t in TOPICS for n in ("checkin", "tentative", "hint")}
    assert wanted <= ours("en")
    translated = [locale for locale in texts.locales if locale in texts.locales]
    assert {"es", "de"} <= set(translated)
    for locale in translated:
        assert ours(locale) == ours("en"), locale


def test_entries_are_ordered_by_concern(digest: Digest) -> None:
    severities = [e.assessment.severity for e in digest.entries]
    assert severities == sorted(severities, reverse=True)
    talk = digest.group("conversation")
    severe = [e.assessment.severe for e in talk]
    assert severe == sorted(severe, reverse=True)
    assert talk[0].assessment.severe
    steady_aliases = [e.history.alias for e in digest.group("steady")]
    assert steady_aliases == sorted(steady_aliases, key=str.casefold)


def test_groups_appear_in_order_one_line_per_client_to_talk_with_or_watch(
    texts: Texts, digest: Digest
) -> None:
    lines = telegram_text(render(texts, "en", digest)[0]).splitlines()
    headings = [
        telegram_text(texts.render("en", f"digest.group_{g}"))
        for g in LINE_GROUPS
        if digest.group(g)
    ]
    positions = [lines.index(h) for h in headings]
    assert positions == sorted(positions)
    for name in ("conversation", "watch"):
        for entry in digest.group(name):
            alias = entry.history.alias
            mine = [line for line in lines if line.split(" · ")[0] in (alias, f"⚠️ {alias}")]
            assert len(mine) == 1, entry.history.alias
    # ⚠️ marks exactly the clients with an immediate alert this week.
    marked = {line.split(" · ")[0].removeprefix("⚠️ ") for line in lines if "⚠️" in line}
    assert marked == {e.history.alias for e in digest.entries if e.assessment.severe}
    # Everyone else: names on one line per group.
    signs: tuple[tuple[Group, str], ...] = (
        ("repaired", "🌱"),
        ("steady", "✅"),
        ("no_checkins", "⏳"),
        ("away", "⏸"),
    )
    for name, start in signs:
        line = next(line for line in lines if line.startswith(start))
        assert line.split(": ", 1)[1].split(", ") == [e.history.alias for e in digest.group(name)]


def test_strained_client_triage_line_and_detail(texts: Texts, digest: Digest) -> None:
    lines = telegram_text(render(texts, "en", digest)[0]).splitlines()
    assert "ceiling_then_three · felt heard 5→3 · since Mar 24" in lines
    detail = detail_of(texts, "en", digest, "ceiling_then_three")
    assert "3/5, usually 5" in detail
    assert "since Mar 24, 2025" in detail
    assert texts.plain("en", "conversation.bond_checkin", note=False) in detail
    assert texts.plain("en", "conversation.bond_tentative") in detail
    assert texts.plain("en", "conversation.bond_hint") in detail


@pytest.mark.parametrize(
    ("scenario", "topic"),
    [
        ("tension_a_lot_unresolved", "tension"),
        ("ceiling_then_three", "bond"),
        ("early_low_first", "early"),
        ("early_low_third", "early"),
        ("openness_dips", "openness"),
        ("withdrawal_three_unanswered", "withdrawal"),
    ],
)
def test_the_detail_opens_with_what_fits(texts: Texts, scenario: str, topic: str) -> None:
    histories, now = caseload([by_name(scenario)])
    digest = compose_digest(histories, get_instrument(), now)
    shown = detail_of(texts, "en", digest, scenario)
    assert texts.plain("en", f"conversation.{topic}_checkin", note=False) in shown
    assert texts.plain("en", f"conversation.{topic}_tentative") in shown
    assert texts.plain("en", f"conversation.{topic}_hint") in shown


@pytest.mark.parametrize("scenario", ["support_low", "therapist_more_worried"])
def test_watch_clients_get_a_line_and_no_openers(texts: Texts, scenario: str) -> None:
    histories, now = caseload([by_name(scenario)])
    digest = compose_digest(histories, get_instrument(), now)
    assert [e.group for e in digest.entries if e.history.alias == scenario] == ["watch"]
    assert not detail_entries(digest)
    shown = telegram_text(render(texts, "en", digest)[0])
    assert "“" not in shown and "💡" not in shown
    assert "You might open with" not in detail_of(texts, "en", digest, scenario)


def test_the_transparent_opener_thanks_for_a_note(texts: Texts) -> None:
    now = datetime(2025, 3, 6, 12, tzinfo=UTC)
    visits = [*steady(6), c(2, 5, 5, 5, comment="felt rushed")]
    history = build_history(visits, first_session=now - timedelta(days=3 + 6 * 7))
    digest = compose_digest([history], get_instrument(), now)
    shown = detail_of(texts, "en", digest, history.alias)
    assert "Thank you for the note you left in the check-in." in shown
    assert "felt rushed" in shown


def test_repair_is_good_news(texts: Texts, digest: Digest) -> None:
    repaired = {e.history.alias for e in digest.group("repaired")}
    assert {"v_shape_repaired", "tension_talked_through", "a_lot_talked_through"} <= repaired
    # Back at the top with no word on the tension is not a repair (issue 11).
    assert "v_shape_back_up_unconfirmed" not in repaired
    lines = telegram_text(render(texts, "en", digest)[0]).splitlines()
    good_news = next(line for line in lines if line.startswith("🌱 Better: "))
    assert "v_shape_repaired" in good_news and "tension_talked_through" in good_news


@pytest.mark.parametrize(
    ("locale", "usually", "heading"),
    [
        ("es", "normalmente 4,8 (4–5)", "Considera una conversación sobre la relación"),
        ("de", "sonst 4,8 (4–5)", "Ein Gespräch über die Beziehung erwägen"),
    ],
)
def test_other_languages_use_their_decimal_mark_and_openers(
    texts: Texts, digest: Digest, locale: str, usually: str, heading: str
) -> None:
    every = "\n".join(details(texts, locale, digest).values())
    assert usually in every
    assert texts.plain(locale, "conversation.tension_checkin", note=False) in every
    assert heading in telegram_text(render(texts, locale, digest)[0])


HOSTILE = "<b>bold</b> & </code> <a href='x'>link</a> &amp; &#60;"


def test_hostile_text_is_escaped(texts: Texts) -> None:
    now = datetime(2025, 3, 6, 12, tzinfo=UTC)
    visits = [*steady(4), c(2, 5, 5, 5, comment=HOSTILE)]
    history = build_history(
        visits, alias="<i>Eve & co</i>", first_session=now - timedelta(days=3 + 4 * 7)
    )
    digest = compose_digest([history], get_instrument(), now)
    messages = render(texts, "en", digest, "</b><x>")
    assert_sendable(messages)
    shown = "\n".join(telegram_text(m) for m in messages)
    assert "<i>Eve & co</i>" in shown
    assert "</b><x>" in shown
    assert "<x>" not in "".join(messages)
    detail = detail_of(texts, "en", digest, "<i>Eve & co</i>")
    assert HOSTILE in detail


def test_huge_comment_is_cut_with_an_ellipsis(texts: Texts) -> None:
    now = datetime(2025, 3, 6, 12, tzinfo=UTC)
    huge = ("<b>&</b> " * 500)[:4000]
    visits = [*steady(4), c(2, 5, 5, 5, comment=huge), c(2, 5, 5, 5, comment="x" * 4000)]
    history = build_history(visits, first_session=now - timedelta(days=3 + 5 * 7))
    digest = compose_digest([history], get_instrument(), now)
    shown = detail_of(texts, "en", digest, history.alias)
    assert "…" in shown
    assert huge not in shown and "<b>&</b> <b>&</b>" in shown


def test_excerpt_keeps_short_text_and_cleans_controls() -> None:
    assert excerpt("  fine,\nthanks  ") == "fine, thanks"
    assert excerpt("a\u202eb\x00c") == "a b c"
    cut = excerpt("word " * 200, limit=50)
    assert cut.endswith("…") and len(cut) <= 51 and "wor…" not in cut


def test_dates_are_in_the_therapists_time_zone(texts: Texts) -> None:
    # A session ending 23:30 UTC on Sunday is Monday in Berlin.
    first = datetime(2025, 3, 2, 23, 30, tzinfo=UTC) - 6 * timedelta(days=7)
    history = build_history([*steady(6), c(3, 5, 5, 5)], first_session=first)
    now = datetime(2025, 3, 5, tzinfo=UTC)
    digest = compose_digest([history], get_instrument(), now)
    assert "since Mar 3" in telegram_text(render(texts, "en", digest)[0])
    assert "since Mar 3, 2025" in detail_of(texts, "en", digest, history.alias)


def test_alert_is_short_and_fitted(texts: Texts) -> None:
    scenario = by_name("v_shape_now")
    assessment = assess_strain(scenario.history(), scenario.instrument(), scenario.now())
    topic = choose_opener(assessment).topic
    for locale in ("en", "es", "de"):
        alert = render_alert(texts, locale, "<Eve>", assessment, TZ)
        shown = telegram_text(alert)
        assert utf16(shown) < 800
        assert "<Eve>" in shown
        assert texts.plain(locale, f"conversation.{topic}_checkin", note=False) in shown


def test_chart_is_wanted_for_strain_with_history(digest: Digest) -> None:
    wanted = {e.history.alias for e in digest.entries if e.chart_wanted}
    assert "ceiling_then_three" in wanted
    assert "early_low_first" not in wanted  # one point is no trend
    assert all(e.assessment.severity > Severity.STEADY for e in digest.entries if e.chart_wanted)


def test_empty_caseload_still_says_something(texts: Texts) -> None:
    now = datetime(2025, 3, 6, tzinfo=UTC)
    messages = render(texts, "en", compose_digest([], get_instrument(), now))
    assert_sendable(messages)
    assert "No clients yet" in telegram_text(messages[0])


# --- splitting -----------------------------------------------------------------------


def test_split_packs_paragraphs_and_respects_the_limit() -> None:
    paragraphs = [f"<b>{n}</b> " + "word " * 30 for n in range(100)]
    messages = split_html_messages(paragraphs, limit=1000)
    assert_sendable(messages)
    assert all(utf16(telegram_text(m)) <= 1000 for m in messages)
    assert len(messages) < 100  # packed, not one per paragraph
    joined = "\n\n".join(telegram_text(m) for m in messages)
    assert joined == "\n\n".join(telegram_text(p.strip()) for p in paragraphs)


def test_split_cuts_one_huge_paragraph_without_breaking_tags() -> None:
    paragraph = "<b>head</b>\n<i>" + ("a &amp; b " * 1000) + "</i>\n<b>tail</b>"
    messages = split_html_messages([paragraph], limit=500)
    assert len(messages) > 10
    for message in messages:
        assert utf16(telegram_text(message)) <= 500
    assert "".join(telegram_text(m) for m in messages).replace(" ", "") == telegram_text(
        paragraph
    ).replace(" ", "")


def test_split_counts_emoji_as_telegram_does() -> None:
    messages = split_html_messages(["🙂" * 3000], limit=4096)
    assert [utf16(telegram_text(m)) for m in messages] == [4096, 1904]


TAGS = st.sampled_from(["b", "i", "u", "s", "code", "tg-spoiler"])
WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


@st.composite
def paragraph(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        text = html.escape(draw(WORDS), quote=False)
        if draw(st.booleans()):
            tag = draw(TAGS)
            text = f"<{tag}>{text}</{tag}>"
        parts.append(text)
    return draw(st.sampled_from([" ", "\n"])).join(parts)


@settings(max_examples=150, deadline=None)
@given(st.lists(paragraph(), max_size=30), st.integers(min_value=20, max_value=400))
def test_split_always_yields_valid_messages(paragraphs: list[str], limit: int) -> None:
    messages = split_html_messages(paragraphs, limit=limit)
    for message in messages:
        assert utf16(telegram_text(message)) <= limit

    def squash(text: str) -> str:
        return re.sub(r"\s+", "", text)

    assert squash("".join(telegram_text(m) for m in messages)) == squash(
        "".join(telegram_text(p) for p in paragraphs)
    )

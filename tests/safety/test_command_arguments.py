"""Every command's arguments, fuzzed with the shapes they are meant to have and near-misses.

Random text (tests/safety/test_handler_properties.py) seldom types "Europe" after
/timezone or "0001-01-01 00:00" after /session; those are what broke. Here Hypothesis
composes each command's arguments from pieces a person might plausibly type — aliases
(also a former client's "alex~2026-06-02"), weekdays, times and dates at their limits
and in other scripts' digits, minutes, time-zone areas and server-only zone names,
toggles, paths — and sends them through the running bot as the therapist, the client
and a stranger. No input may reach the error handler: nothing logged as a failed handler,
no "something went wrong" reply, no stand-in error, and every command gets an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from story import Person, enrolled_client, enrolled_therapist, new_person

from bot.offline.testbed import Testbed

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ARGUMENT_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ERROR_REPLY = "something went wrong on my side"

ALIASES = ["alex", "ALEX", "Alex", "alex~2026-06-02", "alex~", "nobody", "a" * 33, "x.y-z_"]
WEEKDAYS = ["monday", "Mon", "lunes", "Miércoles", "sonntag", "1", "7", "0", "8", "²", "١", "７"]
TIMES = [
    *("9:00", "09:00", "0:00", "23:59", "24:00", "9:0", "99:99", "-1:00", "9", "9:00:00"),
    *("٠٩:٣٠", "０９:００", "9:3０", "９:00", "09：00", "²:00"),
]  # fmt: skip
DATES = [
    *("0001-01-01", "9999-12-31", "2026-06-01", "2026-06-02", "2026-02-30", "2026-13-01"),
    *("1970-01-01", "2026-05-01", "２０２６-０６-０１", "2026-6-1", "26-06-01", "2026/06/01"),
]  # fmt: skip
MINUTES = ["10", "50", "240", "9", "241", "0", "-5", "５０", "٥٠", "1e3", "50.5", "9" * 40]
ZONES = [
    *("Europe", "America", "Asia", "Etc", "Europe/Berlin", "europe/berlin", "UTC", "Berlin"),
    *("localtime", "Factory", "posixrules", "posix/Europe/Berlin", "right/UTC", "/etc/passwd"),
    *("../../etc/passwd", "Europe/../../x", "Etc/GMT+14", "Europe/Berlin\x00", "x" * 300),
    *("America/Argentina", "America/Argentina/Buenos_Aires", "New", "York", "Ａｓｉａ/Tokyo"),
]  # fmt: skip
WORDS = ["on", "off", "ON", "stop", "no", "en", "es", "de", "xx", "yes", "🙂", "<b>", "&amp;"]
TOKENS = ["A" * 43, "sGRNvDyfM5RIjgWikSZyfmpn0ucXvnQlwiZZJykUViE", "", "-", "_" * 64]

PIECE = st.one_of(
    st.sampled_from(ALIASES + WEEKDAYS + TIMES + DATES + MINUTES + ZONES + WORDS + TOKENS),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12),
)
# Each command's own shapes first (most examples), then anything from the whole vocabulary.
SHAPES: dict[str, st.SearchStrategy[list[str]]] = {
    "invite": st.lists(st.sampled_from(ALIASES), max_size=2),
    "session": st.one_of(
        st.tuples(st.sampled_from(ALIASES)).map(list),
        st.tuples(st.sampled_from(ALIASES), st.sampled_from(DATES), st.sampled_from(TIMES)).map(
            list
        ),
    ),
    "schedule": st.one_of(
        st.tuples(st.sampled_from(ALIASES), st.sampled_from(WEEKDAYS), st.sampled_from(TIMES)).map(
            list
        ),
        st.tuples(
            st.sampled_from(ALIASES),
            st.sampled_from(WEEKDAYS),
            st.sampled_from(TIMES),
            st.sampled_from(MINUTES),
        ).map(list),
        st.tuples(st.sampled_from(ALIASES), st.sampled_from(["off", "stop", "no"])).map(list),
    ),
    "timezone": st.lists(st.sampled_from(ZONES), max_size=2),
    "digesttime": st.tuples(st.sampled_from(WEEKDAYS), st.sampled_from(TIMES)).map(list),
    "client": st.lists(st.sampled_from(ALIASES), max_size=2),
    "rate": st.lists(st.sampled_from(WORDS), max_size=2),
}
COMMANDS = [
    *("start", "invite", "session", "schedule", "digest", "clients", "client", "export"),
    *("rate", "timezone", "digesttime", "help", "privacy", "pause", "resume", "stop"),
    *("mydata", "delete", "language"),
]  # fmt: skip


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A command and its arguments: its own shapes, or pieces of any command's."""
    command = draw(st.sampled_from(COMMANDS))
    own = SHAPES.get(command)
    if own is not None and draw(st.booleans()):
        return command, draw(own)
    return command, draw(st.lists(PIECE, max_size=4))


class _Failures(logging.Handler):
    """Collects every "handler failed" the error handler logs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("handler failed"):
            self.seen.append(record.getMessage())


@pytest.fixture
def failures() -> Iterator[_Failures]:
    """Failures reported to the error handler while the test runs."""
    handler = _Failures()
    logger = logging.getLogger("bot.handlers.common")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def _cast(bed: Testbed) -> dict[str, Person]:
    """A therapist with a client "alex" and a former client, plus a stranger (made once)."""
    cast: dict[str, Person] | None = getattr(bed, "_argument_cast", None)
    if cast is None:
        therapist = await enrolled_therapist(bed)
        former = await enrolled_client(bed, therapist, "alex")
        await former.command("stop")
        await former.press("Yes, leave")
        client = await enrolled_client(bed, therapist, "alex")
        stranger = new_person(bed, "Kim")
        cast = {"therapist": therapist, "client": client, "stranger": stranger}
        bed._argument_cast = cast  # type: ignore[attr-defined]
    return cast


@ARGUMENT_SETTINGS
@given(line=command_lines(), who=st.sampled_from(["therapist", "therapist", "client", "stranger"]))
async def test_no_command_argument_reaches_the_error_handler(
    bed: Testbed, failures: _Failures, line: tuple[str, list[str]], who: str
) -> None:
    """Every command with plausible and near-miss arguments: an answer, never a failure."""
    command, args = line
    person = (await _cast(bed))[who]
    seen = len(person.messages())
    await person.command(command, *[a.replace(" ", "_") for a in args if a.strip()])
    assert not failures.seen, (command, args, failures.seen)
    assert not bed.standin.internal_errors, (command, args)
    shown = person.messages()[seen:]
    assert shown, f"/{command} {args} got no answer"
    for message in shown:
        assert ERROR_REPLY not in (message.text or ""), (command, args)


def _sweep() -> list[tuple[str, list[str]]]:
    """Each piece of each command's vocabulary at least once, in the place it belongs."""
    lines: list[tuple[str, list[str]]] = [("timezone", [zone]) for zone in ZONES]
    lines += [("timezone", ["New", "York"]), ("timezone", ["Europe", "Berlin"])]
    for zone in ("Europe/Berlin", "America/New_York", "Pacific/Kiritimati"):
        lines.append(("timezone", [zone]))  # years 1 and 9999 overflow on either side of UTC
        lines += [("session", ["alex", day, "00:00"]) for day in DATES]
        lines += [("session", ["alex", day, "23:59"]) for day in DATES]
    lines += [("session", ["alex", "2026-06-01", at]) for at in TIMES]
    lines += [("session", [alias]) for alias in ALIASES]
    lines += [("schedule", ["alex", day, "09:00"]) for day in WEEKDAYS]
    lines += [("schedule", ["alex", "monday", at]) for at in TIMES]
    lines += [("schedule", ["alex", "monday", "09:00", n]) for n in MINUTES]
    lines += [("schedule", [alias, "monday", "09:00"]) for alias in ALIASES]
    lines += [("digesttime", [day, "08:00"]) for day in WEEKDAYS]
    lines += [("digesttime", ["monday", at]) for at in TIMES]
    lines += [("invite", [alias]) for alias in ALIASES if alias != "alex"]
    lines += [("client", [alias]) for alias in ALIASES]
    lines += [("rate", [word]) for word in WORDS]
    return lines


async def test_every_argument_piece_is_answered_without_failure(
    bed: Testbed, failures: _Failures
) -> None:
    """The whole vocabulary, piece by piece, from the therapist (and the time zones in
    which years 1 and 9999 fall off the calendar): an answer each time, never a failure."""
    therapist = (await _cast(bed))["therapist"]
    for command, args in _sweep():
        seen = len(therapist.messages())
        await therapist.command(command, *args)
        shown = therapist.messages()[seen:]
        assert shown and not failures.seen, (command, args, failures.seen)
        assert all(ERROR_REPLY not in (m.text or "") for m in shown), (command, args)
    assert not bed.standin.internal_errors

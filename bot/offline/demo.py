"""`alliance-checkin demo`: eight weeks of a small practice, played on this machine in seconds.

The real bot runs: the same Application, handlers, dispatcher, database, migrations
and templates as in production (bot.offline.testbed), against the local Bot API stand-in
on 127.0.0.1, with an embedded SQLite database in a temporary folder and a clock
that jumps from one moment that matters to the next. A therapist enrols with an
administrator's invitation; six invented clients with different stories agree to
take part and answer their check-ins by pressing the buttons a person would
press. At the end the therapist's weekly digest is printed as Telegram shows it, with
the detail (and chart) of every client the therapist taps under it
and its chart images are written to a folder. Nothing is sent over the internet.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.core.instrument import Instrument, Item
from bot.offline.standin.models import ChatMessage, FakeUser
from bot.offline.terminal import bold, dim, render_buttons, render_entities
from bot.offline.testbed import Testbed
from storage.migrate import upgrade_async

# Monday 6 April 2026, 09:00 in Berlin: eight weeks without a clock change.
START = datetime(2026, 4, 6, 7, 0, tzinfo=UTC)
TIMEZONE = "Europe/Berlin"
THERAPIST_NAME = "Dr. Mira Example"
CORE = ("bond", "goals", "tasks", "openness")
LINK = re.compile(r"https://t\.me/\w+\?start=([A-Za-z0-9_-]+)")
WEEKS = 8
FAST_WEEKS = 5
# The daily moment when reminders and expiries are picked up between sessions.
DAILY_TICK = (12, 0)
# After a pass that sent something, passes follow at production's default interval
# until the queue is empty (a digest's charts go out right after its text).
DISPATCH_EVERY = timedelta(seconds=30)
DRAIN_PASSES = 6


@dataclass(frozen=True)
class Week:
    """How a client answers one week's check-in."""

    bond: int
    goals: int
    tasks: int
    openness: int
    tension: str = "none"  # none | a_little | a_lot (the instrument's option codes)
    talked: str = "yes"  # yes | partly | no, asked only after tension
    support: int = 5
    comment: str | None = None

    def core_mean(self) -> float:
        """Mean of the four core answers."""
        return fmean((self.bond, self.goals, self.tasks, self.openness))


@dataclass(frozen=True)
class Story:
    """An invented client: who they are, when they come, and how their weeks go."""

    alias: str
    first_name: str
    language: str
    story: str
    weekday: str
    start: str
    weeks: Callable[[int, int], Week | None]  # (week, of weeks) → answers, None = no answer
    calls_for_conversation: bool


def _steady(week: int, weeks: int) -> Week:
    patterns = ((5, 5, 4, 5), (5, 4, 5, 5), (4, 5, 5, 4), (5, 5, 5, 5))
    return Week(*patterns[week % len(patterns)])


def _ceiling_then_drop(week: int, weeks: int) -> Week:
    if week < weeks:
        return Week(5, 5, 5, 5)
    return Week(3, 4, 3, 4, comment="I felt rushed at the end and didn't get to say what I meant.")


def _rupture_and_repair(week: int, weeks: int) -> Week:
    if week == weeks - 1:
        return Week(
            2,
            3,
            2,
            3,
            tension="a_lot",
            talked="no",
            comment="I didn't like being pushed about the homework.",
        )
    if week == weeks:
        # Back to their usual answers, and the tension talked through: a confirmed repair.
        return Week(
            5,
            4,
            5,
            5,
            tension="a_little",
            talked="yes",
            comment="Glad we could talk about last week.",
        )
    return Week(5, 4, 5, 5)


def _unresolved_tension(week: int, weeks: int) -> Week:
    if week == weeks:
        return Week(
            4,
            4,
            4,
            3,
            tension="a_lot",
            talked="partly",
            comment="When my family came up I felt judged.",
        )
    return Week(5, 4, 4, 5)


def _withdrawal(week: int, weeks: int) -> Week | None:
    if week > weeks - 3:
        return None
    return Week(5, 4, 5, 4)


def _in_spanish(week: int, weeks: int) -> Week:
    comment = "Me ayudó hablar de la semana." if week == weeks else None
    return Week(5, 5, 5, 4, comment=comment)


STORIES: tuple[Story, ...] = (
    Story("robin", "Robin", "en", "steady", "tuesday", "10:00", _steady, False),
    Story("kai", "Kai", "en", "ceiling, then a drop", "tuesday", "15:00", _ceiling_then_drop, True),
    Story(
        "sam", "Sam", "en", "rupture and repair", "wednesday", "11:00", _rupture_and_repair, False
    ),
    Story(
        "noor", "Noor", "en", "unresolved tension", "thursday", "09:00", _unresolved_tension, True
    ),
    Story("jo", "Jo", "en", "withdrawal", "thursday", "16:00", _withdrawal, True),
    Story("lucia", "Lucía", "es", "steady, in Spanish", "friday", "10:00", _in_spanish, False),
)


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    weeks: int = WEEKS
    keep: bool = False
    out: Path = Path("alliance-demo-charts")


@dataclass
class Played:
    """One client's weeks as they happened."""

    story: Story
    user: FakeUser
    answered: dict[int, Week] = field(default_factory=dict)
    received: set[int] = field(default_factory=set)
    handled: set[int] = field(default_factory=set)


@dataclass
class TherapistMessage:
    """A message the therapist received, with when and why."""

    at: datetime
    week: int
    digest: bool
    message: ChatMessage


@dataclass
class DemoResult:
    """What the demo produced, for printing and for tests."""

    weeks: int
    played: list[Played]
    therapist: list[TherapistMessage]
    digest: list[ChatMessage]
    charts: list[Path]
    first_checkin: list[ChatMessage]
    database: Path | None
    seconds: float


class Progress:
    """A one-line progress display on stderr (rewritten in place on a terminal)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.last = ""
        self.tenth = -1

    def show(self, done: int, note: str) -> None:
        """Update the display."""
        width = 24
        filled = round(width * done / max(self.total, 1))
        line = f"  [{'█' * filled}{'░' * (width - filled)}] {note}"
        if line == self.last:
            return
        self.last = line
        if self.live:
            self.stream.write("\r\x1b[2K" + line)
        else:
            # In a log, one line per tenth of the way is enough.
            tenth = 10 * done // max(self.total, 1)
            if done and tenth == self.tenth:
                return
            self.tenth = tenth
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        """Leave the line and move on."""
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


class Demo:
    """Drives the bot through the stand-in as an administrator, a therapist and clients."""

    def __init__(self, bed: Testbed, stories: Sequence[Story], weeks: int) -> None:
        self.bed = bed
        self.stories = stories
        self.weeks = weeks
        self.tz = ZoneInfo(TIMEZONE)
        self.therapist = FakeUser(id=7_000_001, first_name="Mira", language_code="en")
        self.played = [
            Played(
                story,
                FakeUser(
                    id=7_100_001 + n, first_name=story.first_name, language_code=story.language
                ),
            )
            for n, story in enumerate(stories)
        ]
        self.therapist_seen: set[int] = set()
        self.therapist_log: list[TherapistMessage] = []
        self.first_checkin: list[ChatMessage] = []

    @property
    def instrument(self) -> Instrument:
        """The questionnaire the bot asks."""
        return self.bed.services.instrument

    def plain(self, locale: str, key: str, **context: object) -> str:
        """A text as the bot would show it (to find the button a person would tap)."""
        return self.bed.services.texts.plain(locale, key, **context)

    # ------------------------------------------------------------------ acting

    async def _settle(self, update: dict[str, object]) -> None:
        await self.bed.settled(int(str(update["update_id"])))

    async def command(self, user: FakeUser, name: str, args: str | None = None) -> None:
        """The person sends /name args."""
        await self._settle(self.bed.standin.send_command(user, name, args))

    async def write(self, user: FakeUser, text: str) -> None:
        """The person types a message."""
        await self._settle(self.bed.standin.send_text(user, text))

    async def tap(self, user: FakeUser, message: ChatMessage, label: str) -> None:
        """The person taps the button with this label."""
        data = self.bed.standin.find_button(user.id, message.message_id, label)
        await self._settle(self.bed.standin.press(user, message.message_id, data))

    def last(self, user: FakeUser) -> ChatMessage:
        """The newest bot message in the person's chat."""
        message = self.bed.standin.last_bot_message(user.id)
        assert message is not None, "the bot has not written to this person"
        return message

    async def dispatch(self) -> None:
        """Dispatcher passes at this moment and every 30 s after, while there is work."""
        report = await self.bed.tick()
        for _ in range(DRAIN_PASSES):
            if not (report.sent or report.queued or report.digests):
                break
            self.bed.clock.advance(DISPATCH_EVERY)
            report = await self.bed.tick()

    # ------------------------------------------------------------------ story

    async def enrol(self) -> None:
        """Admin invites the therapist; the therapist invites each client; each agrees."""
        from bot.practice.enrolment import create_therapist_invitation

        token = await create_therapist_invitation(self.bed.services, THERAPIST_NAME)
        await self.command(self.therapist, "start", token)
        await self.command(self.therapist, "timezone", TIMEZONE)
        for played in self.played:
            story = played.story
            await self.command(self.therapist, "invite", story.alias)
            match = LINK.search(self.last(self.therapist).text or "")
            assert match, "the invitation reply carries a deep link"
            await self.command(played.user, "start", match.group(1))
            await self.tap(
                played.user, self.last(played.user), self.plain(story.language, "buttons.agree")
            )
            await self.command(
                self.therapist, "schedule", f"{story.alias} {story.weekday} {story.start} 50"
            )
        await self.dispatch()
        self.collect_therapist(week=0, digest=False)

    def _item_asked(self, message: ChatMessage, locale: str) -> Item | None:
        text = message.text or ""
        for item in self.instrument.items:
            if self.instrument.localised(item.text, locale) in text:
                return item
        return None

    def _label(self, item: Item, week: Week, locale: str) -> str | None:
        """The button text to tap for this item (None: type the comment instead)."""
        if item.kind == "text":
            return None if week.comment else self.plain(locale, "buttons.skip")
        if item.kind == "scale":
            value = week.support if item.domain == "support" else getattr(week, item.domain, 5)
            option = item.option(value)
            assert option is not None
            label = self.instrument.localised(option.label, locale)
            return self.plain(locale, "checkin.scale_button", number=value, label=label)
        code = week.tension if item.domain == "tension" else week.talked
        for option in item.options:
            if option.code == code:
                return self.instrument.localised(option.label, locale)
        raise ValueError(f"no option {code} for {item.id}")

    async def answer(self, played: Played, message: ChatMessage, week: Week) -> None:
        """Answer a check-in question by question, as the client would."""
        locale = played.story.language
        # The first client's first check-in is kept screen by screen for the transcript.
        capture = not self.first_checkin and played is self.played[0]
        current = message
        for _ in range(len(self.instrument.items) + 1):
            item = self._item_asked(current, locale)
            if item is None or not current.reply_markup:
                break
            if capture:
                self.first_checkin.append(current)
            label = self._label(item, week, locale)
            if label is None:
                await self.write(played.user, week.comment or "")
            else:
                await self.tap(played.user, current, label)
            current = next(
                m
                for m in self.bed.standin.sent_to(played.user.id)
                if m.message_id == message.message_id
            )
        if capture:
            self.first_checkin.append(current)

    async def clients_act(self, week: int) -> int:
        """Each client answers a check-in that has just arrived (or lets it be)."""
        answered = 0
        for played in self.played:
            for message in self.bed.standin.sent_to(played.user.id):
                if message.message_id in played.handled or not message.reply_markup:
                    continue
                played.handled.add(message.message_id)
                if self._item_asked(message, played.story.language) is None:
                    continue
                if week in played.received:
                    continue  # a reminder of a check-in this client chose to leave
                played.received.add(week)
                plan = played.story.weeks(week, self.weeks)
                if plan is None:
                    continue
                await self.answer(played, message, plan)
                played.answered[week] = plan
                answered += 1
        return answered

    def collect_therapist(self, week: int, digest: bool) -> None:
        """Note what reached the therapist since the last look."""
        for message in self.bed.standin.sent_to(self.therapist.id):
            if message.message_id in self.therapist_seen:
                continue
            self.therapist_seen.add(message.message_id)
            self.therapist_log.append(TherapistMessage(self.bed.clock.now(), week, digest, message))

    def moments(self) -> list[tuple[datetime, int, bool]]:
        """Every moment the clock stops: after each session's check-in is due, noon, digests."""
        delay = timedelta(minutes=self.bed.services.settings.checkin_delay_minutes + 1)
        weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        first_day = START.astimezone(self.tz).date()
        moments: list[tuple[datetime, int, bool]] = []
        for day in range(self.weeks * 7 + 1):
            date = first_day + timedelta(days=day)
            week = day // 7 + 1
            if date.weekday() == 0 and day > 0:
                digest_at = datetime(date.year, date.month, date.day, 8, 1, tzinfo=self.tz)
                moments.append((digest_at, week - 1, True))
            if week > self.weeks:
                break
            noon = datetime(date.year, date.month, date.day, *DAILY_TICK, tzinfo=self.tz)
            moments.append((noon, week, False))
            for story in self.stories:
                if weekdays.index(story.weekday) != date.weekday():
                    continue
                hour, minute = (int(part) for part in story.start.split(":"))
                begin = datetime(date.year, date.month, date.day, hour, minute, tzinfo=self.tz)
                moments.append((begin + timedelta(minutes=50) + delay, week, False))
        return sorted(m for m in moments if m[0] > self.bed.clock.now())

    async def play(self, progress: Progress) -> None:
        """Run the weeks: stop the clock at each moment, let the bot work, let people act."""
        moments = self.moments()
        progress.total = len(moments)
        checkins = 0
        for index, (moment, week, digest) in enumerate(moments, start=1):
            if moment > self.bed.clock.now():
                self.bed.clock.set(moment)
            await self.dispatch()
            answered = await self.clients_act(week)
            if answered:
                # Answers may queue messages (an alert); the next pass sends them.
                await self.dispatch()
            checkins += answered
            self.collect_therapist(week, digest)
            note = f"week {min(week, self.weeks)} of {self.weeks} · {checkins} check-ins answered"
            progress.show(index, note)
        progress.show(progress.total, f"{self.weeks} weeks played · {checkins} check-ins answered")

    def final_digest(self) -> list[ChatMessage]:
        """The messages of the last weekly digest, in order (the triage with its buttons)."""
        digests = [m for m in self.therapist_log if m.digest]
        if not digests:
            return []
        last_at = digests[-1].at
        return [m.message for m in digests if m.at == last_at]

    async def open_details(self, digest: Sequence[ChatMessage]) -> list[ChatMessage]:
        """The therapist taps every name under the digest: each client's detail and chart."""
        triage = next((m for m in reversed(digest) if m.reply_markup), None)
        if triage is None or triage.reply_markup is None:
            return []
        names = [b.text for row in triage.reply_markup for b in row if b.text.startswith("🗣")]
        for name in names:
            await self.tap(self.therapist, triage, name)
        await self.dispatch()
        shown: list[ChatMessage] = []
        for message in self.bed.standin.sent_to(self.therapist.id):
            if message.message_id not in self.therapist_seen:
                self.therapist_seen.add(message.message_id)
                shown.append(message)
        return shown


async def run_demo(options: Options, progress_stream: TextIO | None = None) -> DemoResult:
    """Play the demo and return what happened (the caller prints it)."""
    began = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="alliance-demo-"))
    database = folder / "alliance.db"
    url = f"sqlite+aiosqlite:///{database}"
    weeks = options.weeks
    # Telegram's pacing (about one message a second per chat) would only add waiting on
    # a simulated clock against a local stand-in; everything else is production's.
    bed = Testbed(
        url,
        start=START,
        default_timezone=TIMEZONE,
        send_rate_per_chat=30,
        send_burst_per_chat=20,
        send_rate_global=1000,
    )
    try:
        await upgrade_async(url)
        await bed.start()
        demo = Demo(bed, STORIES, weeks)
        total = len(demo.moments())
        progress = Progress(total, progress_stream)
        progress.show(0, "enrolling a therapist and six clients")
        await demo.enrol()
        await demo.play(progress)
        progress.done()
        digest = demo.final_digest()
        digest += await demo.open_details(digest)
        charts = write_charts(digest, options.out)
        if options.keep:
            # Settings to open the kept database with the command line, from its folder.
            (folder / ".env").write_text(
                f"DATABASE_URL={url}\nENCRYPTION_KEYS={bed.encryption_keys}\n", encoding="utf-8"
            )
        errors = bed.standin.internal_errors
        if errors:
            raise RuntimeError(f"the Bot API stand-in reported {len(errors)} internal error(s)")
        return DemoResult(
            weeks=weeks,
            played=demo.played,
            therapist=demo.therapist_log,
            digest=digest,
            charts=charts,
            first_checkin=demo.first_checkin,
            database=database if options.keep else None,
            seconds=time.monotonic() - began,
        )
    finally:
        await bed.stop()
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)


def write_charts(digest: Sequence[ChatMessage], out: Path) -> list[Path]:
    """Save the digest's images; names follow their captions where there are some."""
    images = [m for m in digest if m.photo]
    if not images:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for number, message in enumerate(images, start=1):
        caption = (message.caption or "").split(":")[0].split("\n")[0]
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", caption).strip("-").lower() or "chart"
        path = out / f"{number:02d}-{stem[:40]}.png"
        path.write_bytes(message.photo or b"")
        written.append(path)
    return written


# ---------------------------------------------------------------------- printing


def _describe(week: Week | None, received: bool) -> str:
    if week is None:
        return "–" if received else " "
    mark = ""
    if week.tension != "none":
        mark = "✓" if week.talked == "yes" else "⚡"
    return f"{week.core_mean():.1f}{mark}"


def render_message(message: ChatMessage, *, ansi: bool, image_path: Path | None = None) -> str:
    """A Telegram message as text: its formatting, or its image, then its buttons."""
    lines: list[str] = []
    if message.photo:
        where = f" → {image_path}" if image_path else ""
        lines.append(dim(f"[image{where}]", ansi=ansi))
        if message.caption:
            entities = message.raw.get("caption_entities", [])
            lines.append(render_entities(message.caption, entities, ansi=ansi))
    else:
        lines.append(render_entities(message.text or "", message.entities, ansi=ansi))
    lines.extend(render_buttons(message.reply_markup))
    return "\n".join(lines)


def _shorten(text: str, limit: int) -> str:
    """Cut at a word boundary, marking the cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def _rule(title: str, *, ansi: bool) -> str:
    return "\n" + bold(f"── {title} " + "─" * max(4, 66 - len(title)), ansi=ansi)


def transcript(result: DemoResult, *, ansi: bool) -> str:
    """The readable summary printed at the end."""
    out: list[str] = []
    tz = ZoneInfo(TIMEZONE)

    out.append(_rule("What a client sees: the first check-in, question by question", ansi=ansi))
    if result.first_checkin:
        alias = result.played[0].story.alias
        out.append(dim(f"({alias}'s phone; the same message is edited after each tap)", ansi=ansi))
        scale_shown = False
        for step in result.first_checkin:
            # Questions on the same 1-5 buttons are named, not drawn again.
            is_scale = len(step.reply_markup or []) >= 5
            if is_scale and scale_shown:
                lines = [line for line in (step.text or "").splitlines() if line.strip()]
                question = lines[1] if len(lines) > 1 else ""
                out.append(dim(f"  … then, on the same buttons: {question}", ansi=ansi))
                continue
            scale_shown = scale_shown or is_scale
            out.append("")
            out.append(render_message(step, ansi=ansi))

    out.append(_rule(f"{result.weeks} weeks of check-ins", ansi=ansi))
    header = f"{'client':<8} {'story':<22}" + "".join(
        f"{'w' + str(w):>6}" for w in range(1, result.weeks + 1)
    )
    out.append(header)
    for played in result.played:
        cells = "".join(
            f"{_describe(played.answered.get(w), w in played.received):>6}"
            for w in range(1, result.weeks + 1)
        )
        out.append(f"{played.story.alias:<8} {played.story.story:<22}{cells}")
    out.append(
        dim(
            "numbers: mean of the four core answers (5 = best) · ⚡ tension not (fully) talked "
            "through · ✓ tension talked through · – check-in left unanswered",
            ansi=ansi,
        )
    )
    comments = [
        (played.story.alias, week, plan.comment)
        for played in result.played
        for week, plan in sorted(played.answered.items())
        if plan.comment
    ]
    if comments:
        out.append("")
        out.append("notes typed by clients (stored encrypted):")
        out.extend(f"  {alias}, week {week}: “{text}”" for alias, week, text in comments)

    out.append(_rule("What reached the therapist along the way", ansi=ansi))
    for entry in result.therapist:
        if entry.week == 0:
            continue
        when = entry.at.astimezone(tz).strftime("%a %d %b %H:%M")
        first = (entry.message.text or entry.message.caption or "").strip().splitlines()
        kind = "digest" if entry.digest else "message"
        if entry.digest and entry.message.photo:
            continue
        # A digest is named by its period and counts; other messages by their start.
        shown = first[1:3] if entry.digest else first[:2]
        out.append(f"  {when}  {kind:<7}  {_shorten(' · '.join(shown), 100)}")

    out.append(_rule("The therapist's weekly digest, as Telegram shows it", ansi=ansi))
    charts = iter(result.charts)
    if not result.digest:
        out.append("(no digest was sent)")
    for message in result.digest:
        out.append("")
        out.append(
            render_message(
                message, ansi=ansi, image_path=next(charts, None) if message.photo else None
            )
        )

    out.append(_rule("Done", ansi=ansi))
    if result.charts:
        folder = result.charts[0].parent.resolve()
        out.append(f"chart images of this digest: {folder}/ ({len(result.charts)} PNG files)")
    else:
        out.append("this digest has no chart images")
    if result.database is not None:
        out.append(
            f"database kept: {result.database} (with its key in .env beside it: "
            f"cd {result.database.parent} && alliance-checkin doctor)"
        )
    else:
        out.append("the temporary database was deleted (--keep keeps it)")
    out.append(f"played {result.weeks} weeks in {result.seconds:.1f} s")
    return "\n".join(out)


def main(options: Options) -> int:
    """Run the demo and print the transcript; 0 on success."""
    # Keep the terminal for the story: library chatter only if something is wrong.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    ansi = sys.stdout.isatty()
    print(bold("Alliance Check-in demo", ansi=ansi))
    print(
        "The real bot (handlers, scheduler, database, templates) against a local Telegram "
        "stand-in on 127.0.0.1;\nan invented practice: one therapist, six clients, "
        f"{options.weeks} weeks on a simulated clock. Nothing leaves this machine.\n"
    )
    result = asyncio.run(run_demo(options))
    print(transcript(result, ansi=ansi))
    return 0
